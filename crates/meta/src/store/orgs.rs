//! Organizations: create (with their system buckets), find, list, rename, delete.

use super::*;

impl MetaStore {
    /// Creates an organization with its `_tasks` (72 h) and `_monitoring` (7 d) system buckets
    /// and, when `creator` is given, an owner URM for that user. [`Error::Conflict`] if the name
    /// is taken, [`Error::Invalid`] if it is empty.
    pub fn create_org(
        &self,
        name: &str,
        description: &str,
        creator: Option<Id>,
    ) -> Result<Organization> {
        self.update(|t| tx_create_org(t, name, description, creator))
    }

    /// The organization with this ID.
    pub fn get_org(&self, id: Id) -> Result<Organization> {
        get_json(&self.view(), schema::ORGS, &id.encode(), Kind::Organization)
    }

    /// The organization with this name.
    pub fn find_org_by_name(&self, name: &str) -> Result<Organization> {
        let t = self.view();
        let id = t
            .get(schema::ORG_INDEX, name.trim().as_bytes())
            .ok_or(Error::not_found(Kind::Organization))?;
        get_json(&t, schema::ORGS, id, Kind::Organization)
    }

    /// Organizations matching `filter`, in ID order, paged by `opts`.
    pub fn list_orgs(&self, filter: &OrgFilter, opts: &FindOptions) -> Result<Vec<Organization>> {
        let t = self.view();
        let mut orgs: Vec<Organization> = all_json(&t, schema::ORGS)?;
        let member_of: Option<BTreeSet<Id>> = match filter.user_id {
            Some(u) => Some(
                tx_urms(
                    &t,
                    &UrmFilter {
                        user_id: Some(u),
                        resource_type: Some(ResourceType::Orgs),
                        ..Default::default()
                    },
                )?
                .into_iter()
                .map(|m| m.resource_id)
                .collect(),
            ),
            None => None,
        };
        orgs.retain(|o| {
            filter.id.is_none_or(|i| i == o.id)
                && filter.name.as_ref().is_none_or(|n| *n == o.name)
                && member_of.as_ref().is_none_or(|s| s.contains(&o.id))
        });
        Ok(opts.apply(orgs, |o| o.id))
    }

    /// Renames and/or re-describes an organization. [`Error::Conflict`] if the new name is taken.
    pub fn update_org(
        &self,
        id: Id,
        name: Option<&str>,
        description: Option<&str>,
    ) -> Result<Organization> {
        self.update(|t| {
            let mut org: Organization =
                get_json(t, schema::ORGS, &id.encode(), Kind::Organization)?;
            if let Some(n) = name {
                let n = n.trim();
                if n.is_empty() {
                    return Err(Error::Invalid("org name is empty".into()));
                }
                if n != org.name {
                    rename_in_index(
                        t,
                        schema::ORG_INDEX,
                        org.name.as_bytes(),
                        n.as_bytes().to_vec(),
                        id,
                        "organization",
                        n,
                    )?;
                    org.name = n.to_string();
                }
            }
            if let Some(d) = description {
                org.description = d.to_string();
            }
            org.updated_at = Time::now();
            t.put(schema::ORGS, id.encode().to_vec(), to_go_json(&org));
            Ok(org)
        })
    }

    /// Deletes an organization and everything in it: its buckets (and their catalogue databases),
    /// authorizations, URMs on the org and its buckets, and DBRP mappings.
    pub fn delete_org(&self, id: Id) -> Result<()> {
        self.update(|t| {
            let org: Organization = get_json(t, schema::ORGS, &id.encode(), Kind::Organization)?;
            let buckets: Vec<Bucket> = all_json(t, schema::BUCKETS)?;
            for b in buckets.iter().filter(|b| b.org_id == id) {
                tx_delete_bucket(t, b.id)?;
            }
            let auths: Vec<Authorization> = all_json(t, schema::AUTHS)?;
            for a in auths.iter().filter(|a| a.org_id == id) {
                tx_delete_auth(t, a.id)?;
            }
            tx_delete_resource_urms(t, id)?;
            let dbrps: Vec<DbrpMapping> = all_json(t, schema::DBRPS)?;
            for d in dbrps.iter().filter(|d| d.org_id == id) {
                tx_delete_dbrp(t, d)?;
            }
            t.delete(schema::ORG_INDEX, org.name.as_bytes());
            t.delete(schema::ORGS, &id.encode());
            Ok(())
        })
    }
}
