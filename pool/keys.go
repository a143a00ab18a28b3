package pool

// keys builds every Redis key and channel name of the package; the layout is
// described in the package comment.
type keys struct{ p string }

func newKeys(ns string) keys { return keys{p: "{" + ns + "}:pool:"} }

// pool returns the keys of pool name in the order the scripts expect them:
// exp, owner, held, line, place, joined, seq.
func (k keys) pool(name string) []string {
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

func (k keys) holder(h string) string  { return k.p + "holder:" + h }
func (k keys) wake(pool string) string { return k.p + "wake:" + pool }
