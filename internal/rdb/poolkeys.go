package rdb

// poolKeys builds every Redis key and channel name of the resource pools;
// the layout is described in the package comment.
type poolKeys struct{ p string }

func newPoolKeys(ns string) poolKeys { return poolKeys{p: "{" + ns + "}:pool:"} }

// pool returns the keys of pool name in the order the scripts expect them:
// exp, owner, held, line, place, joined, seq.
func (k poolKeys) pool(name string) []string {
	return []string{
		k.p + "exp:" + name,
		k.p + "owner:" + name,
		k.p + "held:" + name,
		k.p + "line:" + name,
		k.p + "place:" + name,
		k.p + "joined:" + name,
		k.p + "seq",
	}
}

func (k poolKeys) holder(h string) string  { return k.p + "holder:" + h }
func (k poolKeys) wake(pool string) string { return k.p + "wake:" + pool }
