//! The task store: tasks, their org index and run state in InfluxDB's KV layout, checked with
//! the bbolt oracle and through a reopen.

mod common;

use meta::{Id, MetaStore, Run, RunLog, TaskCreate, TaskFilter, zero_time};

fn create(org: Id, owner: Id, name: &str, status: &str) -> TaskCreate {
    TaskCreate {
        org_id: org,
        owner_id: owner,
        task_type: String::new(),
        flux: format!(
            "option task = {{name: \"{name}\", every: 1h}}\nfrom(bucket: \"b\") |> range(start: -1h)"
        ),
        description: String::new(),
        status: status.into(),
        name: name.into(),
        every: "1h".into(),
        cron: String::new(),
        offset: String::new(),
    }
}

#[test]
fn tasks_in_influxdb_layout_read_by_bbolt() {
    let dir = tempfile::tempdir().unwrap();
    let bolt = common::copy_real_bolt(dir.path());
    let sqlite = dir.path().join("influxd.sqlite");
    let (org, owner, a, b, run) = {
        let s = MetaStore::open(&bolt, &sqlite).unwrap();
        let org = s.find_org_by_name("myorg").unwrap();
        let owner = s
            .find_user_by_name("myuser")
            .map(|u| u.id)
            .unwrap_or(org.id);
        let a = s.create_task(create(org.id, owner, "ds <1>", "")).unwrap();
        let mut bc = create(org.id, owner, "b", "inactive");
        bc.every = String::new();
        bc.cron = "*/5 * * * *".into();
        bc.offset = "30s".into();
        bc.description = "five".into();
        let b = s.create_task(bc).unwrap();
        let gone = s.create_task(create(org.id, owner, "gone", "")).unwrap();
        let run = Run {
            id: Id::generate(),
            task_id: a.id,
            status: "started".into(),
            scheduled_for: "2024-01-01T00:00:00Z".parse().unwrap(),
            run_at: "2024-01-01T00:00:00Z".parse().unwrap(),
            started_at: "2024-01-01T00:00:01.5Z".parse().unwrap(),
            finished_at: zero_time(),
            requested_at: zero_time(),
            log: vec![RunLog {
                run_id: None,
                time: "2024-01-01T00:00:01.5Z".into(),
                message: "Started task from script".into(),
            }],
        };
        s.put_task_run(&run).unwrap();
        s.put_task_run(&Run {
            task_id: gone.id,
            ..run.clone()
        })
        .unwrap();
        s.queue_manual_run(&Run {
            id: Id::generate(),
            status: "scheduled".into(),
            log: vec![],
            ..run.clone()
        })
        .unwrap();
        assert!(s.delete_task(gone.id).unwrap());
        assert!(!s.delete_task(gone.id).unwrap());
        (org.id, owner, a, b, run)
    };
    let dump = common::boltdump(&bolt);
    let tasks = dump["tasksv1"].as_object().unwrap();
    assert_eq!(tasks.len(), 2, "{tasks:?}");
    let created = a.created_at.to_string();
    assert_eq!(
        tasks[&a.id.to_string()],
        serde_json::json!({
            "id": a.id.to_string(),
            "orgID": org.to_string(),
            "org": "myorg",
            "ownerID": owner.to_string(),
            "name": "ds <1>",
            "status": "active",
            "flux": a.flux,
            "every": "1h",
            "offset": "0s",
            "latestCompleted": created,
            "latestScheduled": "0001-01-01T00:00:00Z",
            "latestSuccess": "0001-01-01T00:00:00Z",
            "latestFailure": "0001-01-01T00:00:00Z",
            "createdAt": created,
            "updatedAt": "0001-01-01T00:00:00Z",
        })
    );
    assert_eq!(tasks[&b.id.to_string()]["cron"], "*/5 * * * *");
    assert_eq!(tasks[&b.id.to_string()]["offset"], "30s");
    assert_eq!(tasks[&b.id.to_string()]["description"], "five");
    assert_eq!(tasks[&b.id.to_string()]["status"], "inactive");
    assert!(tasks[&b.id.to_string()].get("every").is_none());
    let idx = dump["taskIndexsv1"].as_object().unwrap();
    assert_eq!(idx.len(), 2);
    let v = &idx[&format!("{org}{}", a.id)];
    assert_eq!(
        v.as_str().map(str::to_string).unwrap_or(v.to_string()),
        a.id.to_string()
    );
    let runs = dump["taskRunsv1"].as_object().unwrap();
    assert_eq!(runs.len(), 2, "the deleted task's run is gone: {runs:?}");
    assert_eq!(
        runs[&format!("{}/{}", a.id, run.id)],
        serde_json::json!({
            "id": run.id.to_string(),
            "taskID": a.id.to_string(),
            "status": "started",
            "scheduledFor": "2024-01-01T00:00:00Z",
            "runAt": "2024-01-01T00:00:00Z",
            "startedAt": "2024-01-01T00:00:01.5Z",
            "finishedAt": "0001-01-01T00:00:00Z",
            "requestedAt": "0001-01-01T00:00:00Z",
            "log": [{"time": "2024-01-01T00:00:01.5Z", "message": "Started task from script"}],
        })
    );
    assert_eq!(
        runs[&format!("{}/manualRuns", a.id)]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // The `<` Go escapes in JSON.
    let raw = std::fs::read(&bolt).unwrap();
    assert!(raw.windows(11).any(|w| w == br#""ds \u003c1"#));

    // Reopened: lists, filters, updates and run state.
    let s = MetaStore::open(&bolt, &sqlite).unwrap();
    let all = s
        .list_tasks(&TaskFilter {
            org_id: Some(org),
            ..TaskFilter::default()
        })
        .unwrap();
    assert_eq!(all.len(), 2);
    assert!(all[0].id < all[1].id);
    let only = |f: TaskFilter| {
        s.list_tasks(&f)
            .unwrap()
            .into_iter()
            .map(|t| t.id)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        only(TaskFilter {
            status: Some("inactive".into()),
            ..TaskFilter::default()
        }),
        vec![b.id]
    );
    assert_eq!(
        only(TaskFilter {
            name: Some("ds <1>".into()),
            ..TaskFilter::default()
        }),
        vec![a.id]
    );
    assert_eq!(
        only(TaskFilter {
            after: Some(all[0].id),
            ..TaskFilter::default()
        }),
        vec![all[1].id]
    );
    assert_eq!(
        only(TaskFilter {
            limit: 1,
            ..TaskFilter::default()
        }),
        vec![all[0].id]
    );
    assert!(
        only(TaskFilter {
            task_type: Some("system".into()),
            ..TaskFilter::default()
        })
        .is_empty()
    );
    assert_eq!(
        only(TaskFilter {
            task_type: Some("*".into()),
            ..TaskFilter::default()
        })
        .len(),
        2
    );
    let up = s
        .update_task(a.id, |t| {
            t.status = "inactive".into();
            t.last_run_status = "failed".into();
            Ok(())
        })
        .unwrap()
        .unwrap();
    assert_eq!(up.status, "inactive");
    assert_eq!(s.get_task(a.id).unwrap().unwrap().last_run_status, "failed");
    assert!(s.update_task(Id::generate(), |_| Ok(())).unwrap().is_none());
    assert_eq!(s.task_runs_in_progress(a.id).unwrap(), vec![run.clone()]);
    assert_eq!(s.take_manual_runs(a.id).unwrap().len(), 1);
    assert!(s.take_manual_runs(a.id).unwrap().is_empty());
    assert!(s.delete_task_run(a.id, run.id).unwrap());
    assert!(s.task_runs_in_progress(a.id).unwrap().is_empty());
    assert!(s.get_task(Id::generate()).unwrap().is_none());
}
