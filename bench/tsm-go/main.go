// Command tsm-go measures InfluxDB's own Go TSM column codecs (tsdb/engine/tsm1 from
// Debian's golang-github-influxdb-influxdb-dev, InfluxDB 1.6.7; the same codecs 2.x uses for
// cache snapshots) on the data set of crates/tsm/benches/codecs.rs, generated here by the
// same formulas. Prints one JSON line per measurement: {"op","codec","ns","values"}, where ns
// is the best of three runs of testing.Benchmark.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"testing"

	"github.com/influxdata/influxdb/tsdb/engine/tsm1"
)

const n = 1000

type rng uint64

// xorshift64*, as in the Rust benchmark.
func (r *rng) next() uint64 {
	x := uint64(*r)
	x ^= x >> 12
	x ^= x << 25
	x ^= x >> 27
	*r = rng(x)
	return x * 0x2545F4914F6CDD1D
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}

func main() {
	r := rng(1)
	ts := make([]int64, n)
	for i := range ts {
		ts[i] = 1700000000000000000 + int64(i)*10000000000 + int64(r.next()%1000)*1000000
	}
	r = rng(2)
	floats := make([]float64, n)
	cents := int64(10000)
	for i := range floats {
		cents += int64(r.next()%2001) - 1000
		floats[i] = float64(cents) / 100.0
	}
	r = rng(3)
	ints := make([]int64, n)
	c := int64(0)
	for i := range ints {
		c += int64(r.next() % 1000)
		ints[i] = c
	}
	r = rng(4)
	uints := make([]uint64, n)
	for i := range uints {
		uints[i] = r.next() % 1000000
	}
	r = rng(5)
	bools := make([]bool, n)
	for i := range bools {
		bools[i] = r.next()&1 == 1
	}
	r = rng(6)
	strs := make([]string, n)
	for i := range strs {
		strs[i] = fmt.Sprintf("value-%d", r.next()%200)
	}

	out := json.NewEncoder(os.Stdout)
	report := func(op, codec string, f func(b *testing.B)) {
		// Best of three runs: the least disturbed by other load on the machine.
		best := 0.0
		for k := 0; k < 3; k++ {
			res := testing.Benchmark(f)
			ns := float64(res.T.Nanoseconds()) / float64(res.N)
			if k == 0 || ns < best {
				best = ns
			}
		}
		out.Encode(map[string]interface{}{"op": op, "codec": codec, "ns": best, "values": n})
	}

	// Encoders (streaming, as InfluxDB uses them: Reset, Write each value, Bytes).
	tenc := tsm1.NewTimeEncoder(n)
	var tb []byte
	report("encode", "timestamp", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			tenc.Reset()
			for _, v := range ts {
				tenc.Write(v)
			}
			var err error
			tb, err = tenc.Bytes()
			must(err)
		}
	})
	tb = append([]byte(nil), tb...)
	fenc := tsm1.NewFloatEncoder()
	var fb []byte
	report("encode", "float", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			fenc.Reset()
			for _, v := range floats {
				fenc.Write(v)
			}
			fenc.Flush()
			var err error
			fb, err = fenc.Bytes()
			must(err)
		}
	})
	fb = append([]byte(nil), fb...)
	ienc := tsm1.NewIntegerEncoder(n)
	var ib []byte
	report("encode", "integer", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			ienc.Reset()
			for _, v := range ints {
				ienc.Write(v)
			}
			var err error
			ib, err = ienc.Bytes()
			must(err)
		}
	})
	ib = append([]byte(nil), ib...)
	uenc := tsm1.NewIntegerEncoder(n)
	var ub []byte
	report("encode", "unsigned", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			uenc.Reset()
			for _, v := range uints {
				uenc.Write(int64(v))
			}
			var err error
			ub, err = uenc.Bytes()
			must(err)
		}
	})
	ub = append([]byte(nil), ub...)
	benc := tsm1.NewBooleanEncoder(n)
	var bb []byte
	report("encode", "boolean", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			benc.Reset()
			for _, v := range bools {
				benc.Write(v)
			}
			var err error
			bb, err = benc.Bytes()
			must(err)
		}
	})
	bb = append([]byte(nil), bb...)
	senc := tsm1.NewStringEncoder(n)
	var sb []byte
	report("encode", "string", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			senc.Reset()
			for _, v := range strs {
				senc.Write(v)
			}
			var err error
			sb, err = senc.Bytes()
			must(err)
		}
	})
	sb = append([]byte(nil), sb...)

	// Decoders: decode the whole column into a reused slice.
	tdst := make([]int64, 0, n)
	report("decode", "timestamp", func(b *testing.B) {
		var d tsm1.TimeDecoder
		for i := 0; i < b.N; i++ {
			tdst = tdst[:0]
			d.Init(tb)
			for d.Next() {
				tdst = append(tdst, d.Read())
			}
			must(d.Error())
		}
	})
	fdst := make([]float64, 0, n)
	report("decode", "float", func(b *testing.B) {
		var d tsm1.FloatDecoder
		for i := 0; i < b.N; i++ {
			fdst = fdst[:0]
			must(d.SetBytes(fb))
			for d.Next() {
				fdst = append(fdst, d.Values())
			}
			must(d.Error())
		}
	})
	idst := make([]int64, 0, n)
	report("decode", "integer", func(b *testing.B) {
		var d tsm1.IntegerDecoder
		for i := 0; i < b.N; i++ {
			idst = idst[:0]
			d.SetBytes(ib)
			for d.Next() {
				idst = append(idst, d.Read())
			}
			must(d.Error())
		}
	})
	udst := make([]uint64, 0, n)
	report("decode", "unsigned", func(b *testing.B) {
		var d tsm1.IntegerDecoder
		for i := 0; i < b.N; i++ {
			udst = udst[:0]
			d.SetBytes(ub)
			for d.Next() {
				udst = append(udst, uint64(d.Read()))
			}
			must(d.Error())
		}
	})
	bdst := make([]bool, 0, n)
	report("decode", "boolean", func(b *testing.B) {
		var d tsm1.BooleanDecoder
		for i := 0; i < b.N; i++ {
			bdst = bdst[:0]
			d.SetBytes(bb)
			for d.Next() {
				bdst = append(bdst, d.Read())
			}
			must(d.Error())
		}
	})
	sdst := make([]string, 0, n)
	report("decode", "string", func(b *testing.B) {
		var d tsm1.StringDecoder
		for i := 0; i < b.N; i++ {
			sdst = sdst[:0]
			must(d.SetBytes(sb))
			for d.Next() {
				sdst = append(sdst, d.Read())
			}
			must(d.Error())
		}
	})
	// Whole blocks (timestamps + values), as the engine reads and writes them.
	mk := func(f func(i int) interface{}) []tsm1.Value {
		v := make([]tsm1.Value, n)
		for i := range v {
			v[i] = tsm1.NewValue(ts[i], f(i))
		}
		return v
	}
	blockVals := map[string][]tsm1.Value{
		"float":    mk(func(i int) interface{} { return floats[i] }),
		"integer":  mk(func(i int) interface{} { return ints[i] }),
		"unsigned": mk(func(i int) interface{} { return uints[i] }),
		"boolean":  mk(func(i int) interface{} { return bools[i] }),
		"string":   mk(func(i int) interface{} { return strs[i] }),
	}
	blocks := map[string][]byte{}
	for _, codec := range []string{"float", "integer", "unsigned", "boolean", "string"} {
		vals := blockVals[codec]
		buf := make([]byte, 0, 64*1024)
		report("block_encode", codec, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				var err error
				buf, err = tsm1.Values(vals).Encode(buf[:0])
				must(err)
			}
		})
		blocks[codec] = append([]byte(nil), buf...)
	}
	var fv []tsm1.FloatValue
	report("block_decode", "float", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			var err error
			fv, err = tsm1.DecodeFloatBlock(blocks["float"], &fv)
			must(err)
		}
	})
	var iv []tsm1.IntegerValue
	report("block_decode", "integer", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			var err error
			iv, err = tsm1.DecodeIntegerBlock(blocks["integer"], &iv)
			must(err)
		}
	})
	var uv []tsm1.UnsignedValue
	report("block_decode", "unsigned", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			var err error
			uv, err = tsm1.DecodeUnsignedBlock(blocks["unsigned"], &uv)
			must(err)
		}
	})
	var bv []tsm1.BooleanValue
	report("block_decode", "boolean", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			var err error
			bv, err = tsm1.DecodeBooleanBlock(blocks["boolean"], &bv)
			must(err)
		}
	})
	var sv []tsm1.StringValue
	report("block_decode", "string", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			var err error
			sv, err = tsm1.DecodeStringBlock(blocks["string"], &sv)
			must(err)
		}
	})
	if len(fv) != n || len(iv) != n || len(uv) != n || len(bv) != n || len(sv) != n {
		panic("block decode count")
	}

	for name, got := range map[string]int{"timestamp": len(tdst), "float": len(fdst), "integer": len(idst), "unsigned": len(udst), "boolean": len(bdst), "string": len(sdst)} {
		if got != n {
			panic(fmt.Sprintf("%s decoded %d values", name, got))
		}
	}
}
