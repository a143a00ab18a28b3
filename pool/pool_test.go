package pool

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gantry-ci/gantry/internal/rdb"
	"github.com/gantry-ci/gantry/internal/redistest"
	"github.com/google/go-cmp/cmp"
)

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		members map[string][]string
		want    string // "" = valid
	}{
		{nil, ""},
		{map[string][]string{"mysql": {"mysql-1", "mysql-2"}, "pg": {"pg-1"}}, ""},
		{map[string][]string{"": {"x"}}, "empty name"},
		{map[string][]string{"mysql": {}}, `pool "mysql" has no members`},
		{map[string][]string{"mysql": {"m", ""}}, "member with an empty name"},
		{map[string][]string{"mysql": {"m", "m"}}, `pool "mysql" lists "m" twice`},
		{map[string][]string{"a": {"m"}, "b": {"m"}}, `"m" is a member of both pool "a" and pool "b"`},
	} {
		err := Validate(tc.members)
		if (err == nil) != (tc.want == "") || err != nil && !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate(%v) = %v, want %q", tc.members, err, tc.want)
		}
	}
}

func TestNewPanicsOnInvalidPools(t *testing.T) {
	defer func() {
		if r := recover(); r == nil || !strings.Contains(r.(string), "no members") {
			t.Errorf("recovered %v, want a panic naming the empty pool", r)
		}
	}()
	New(nil, map[string][]string{"mysql": nil}, Config{})
}

func TestNamesAndPoolOf(t *testing.T) {
	p := New(nil, map[string][]string{"pg": {"pg-1"}, "mysql": {"mysql-1", "mysql-2"}}, Config{})
	if got, want := p.Names(), []string{"mysql", "pg"}; !cmp.Equal(got, want) {
		t.Errorf("Names() = %v, want %v", got, want)
	}
	if got, ok := p.PoolOf("mysql-2"); got != "mysql" || !ok {
		t.Errorf("PoolOf(mysql-2) = %q, %v", got, ok)
	}
	if _, ok := p.PoolOf("nope"); ok {
		t.Error("PoolOf(nope) found a pool")
	}
}

func TestTryAcquireTakesFreeMembersInOrder(t *testing.T) {
	ctx := ctxT(t)
	clk := newClock()
	p := New(redisClient(t), map[string][]string{"mysql": {"mysql-1", "mysql-2"}}, Config{Now: clk.Now})

	a, ok, err := p.TryAcquire(ctx, "mysql", "job:1")
	want := Lease{Pool: "mysql", Member: "mysql-1", Holder: "job:1", Since: clk.Now()}
	if err != nil || !ok || a != want {
		t.Fatalf("TryAcquire(job:1) = %+v, %v, %v; want %+v", a, ok, err, want)
	}
	clk.Advance(time.Second)
	b, ok, err := p.TryAcquire(ctx, "mysql", "job:2")
	if err != nil || !ok || b.Member != "mysql-2" || !b.Since.Equal(clk.Now()) {
		t.Fatalf("TryAcquire(job:2) = %+v, %v, %v", b, ok, err)
	}
	if c, ok, err := p.TryAcquire(ctx, "mysql", "job:3"); err != nil || ok || c != (Lease{}) {
		t.Fatalf("TryAcquire on a full pool = %+v, %v, %v; want nothing", c, ok, err)
	}
	// Asking again returns the lease the holder has, with its first Since.
	if again, ok, err := p.TryAcquire(ctx, "mysql", "job:1"); err != nil || !ok || again != a {
		t.Fatalf("TryAcquire(job:1) again = %+v, %v, %v; want %+v", again, ok, err, a)
	}
	if err := p.Release(ctx, "job:1"); err != nil {
		t.Fatal(err)
	}
	c, ok, err := p.TryAcquire(ctx, "mysql", "job:3")
	if err != nil || !ok || c.Member != "mysql-1" {
		t.Fatalf("TryAcquire(job:3) after a release = %+v, %v, %v", c, ok, err)
	}
	// Releasing a holder with nothing is fine.
	if err := p.Release(ctx, "job:1"); err != nil {
		t.Fatal(err)
	}
}

func TestTryAcquireDoesNotJumpTheLine(t *testing.T) {
	ctx := ctxT(t)
	p := New(redisClient(t), map[string][]string{"mysql": {"mysql-1"}}, Config{TTL: time.Minute})
	if _, ok, _ := p.TryAcquire(ctx, "mysql", "a"); !ok {
		t.Fatal("a did not get the free member")
	}
	pos := make(chan int, 10)
	b := goAcquire(t, ctx, p, []string{"mysql"}, "b", pos)
	waitPos(t, pos, 1, "b")
	if _, ok, _ := p.TryAcquire(ctx, "mysql", "c"); ok {
		t.Fatal("c took a member while b waited")
	}
	if err := p.Release(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	got := receive(t, b, "b's Acquire")
	if got.err != nil || got.leases[0].Member != "mysql-1" {
		t.Fatalf("b: %+v", got)
	}
	if _, ok, _ := p.TryAcquire(ctx, "mysql", "c"); ok {
		t.Fatal("c took the member b was handed")
	}
}

func TestUnknownPoolsAndHolders(t *testing.T) {
	ctx := ctxT(t)
	p := New(redisClient(t), map[string][]string{"mysql": {"mysql-1"}, "pg": {"pg-1"}}, Config{})
	_, err := p.Acquire(ctx, []string{"mysql", "redis"}, "job:1", nil)
	if !errors.Is(err, ErrUnknownPool) || !strings.Contains(err.Error(), `"redis"`) || !strings.Contains(err.Error(), "mysql, pg") {
		t.Fatalf("Acquire with an unknown pool: %v", err)
	}
	if st := status(t, p, "mysql"); st.Members[0].Holder != "" {
		t.Fatalf("Acquire with an unknown pool took %+v", st.Members[0])
	}
	if _, _, err := p.TryAcquire(ctx, "redis", "job:1"); !errors.Is(err, ErrUnknownPool) {
		t.Fatalf("TryAcquire(redis): %v", err)
	}
	if _, err := p.Status(ctx, "redis"); !errors.Is(err, ErrUnknownPool) {
		t.Fatalf("Status(redis): %v", err)
	}
	if _, err := p.Acquire(ctx, []string{"mysql"}, "", nil); err == nil {
		t.Fatal("Acquire with no holder succeeded")
	}
	if ls, err := p.Acquire(ctx, nil, "job:1", nil); err != nil || ls != nil {
		t.Fatalf("Acquire of nothing = %v, %v", ls, err)
	}
}

func TestAcquireTakesPoolsSortedOnce(t *testing.T) {
	ctx := ctxT(t)
	p := New(redisClient(t), map[string][]string{"redis": {"r1"}, "mysql": {"m1", "m2"}}, Config{})
	ls, err := p.Acquire(ctx, []string{"redis", "mysql", "redis"}, "job:7", nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range ls {
		got = append(got, l.Pool+"="+l.Member+"@"+l.Holder)
	}
	if want := []string{"mysql=m1@job:7", "redis=r1@job:7"}; !cmp.Equal(got, want) {
		t.Fatalf("leases %v, want %v", got, want)
	}
	// Acquiring again is idempotent: the same leases come back.
	again, err := p.Acquire(ctx, []string{"mysql", "redis"}, "job:7", nil)
	if err != nil || !cmp.Equal(again, ls) {
		t.Fatalf("Acquire again = %v, %v; want %v", again, err, ls)
	}
}

func TestStatusShowsHoldersAndLine(t *testing.T) {
	ctx := ctxT(t)
	clk := newClock()
	p := New(redisClient(t), map[string][]string{"mysql": {"mysql-1", "mysql-2"}, "pg": {"pg-1"}},
		Config{Now: clk.Now, TTL: time.Hour, Poll: time.Hour})
	start := clk.Now()
	if _, ok, _ := p.TryAcquire(ctx, "mysql", "job:1"); !ok {
		t.Fatal("job:1 got nothing")
	}
	clk.Advance(time.Minute)
	if _, ok, _ := p.TryAcquire(ctx, "mysql", "job:2"); !ok {
		t.Fatal("job:2 got nothing")
	}
	pos := make(chan int, 10)
	goAcquire(t, ctx, p, []string{"mysql"}, "job:3", pos)
	waitPos(t, pos, 1, "job:3")
	clk.Advance(time.Minute)
	goAcquire(t, ctx, p, []string{"mysql"}, "job:4", pos)
	waitPos(t, pos, 2, "job:4")

	all, err := p.Status(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	want := []Status{{
		Name: "mysql",
		Members: []MemberStatus{
			{Name: "mysql-1", Holder: "job:1", Since: start},
			{Name: "mysql-2", Holder: "job:2", Since: start.Add(time.Minute)},
		},
		Waiting: []Waiter{{Holder: "job:3", Since: start.Add(time.Minute)}, {Holder: "job:4", Since: start.Add(2 * time.Minute)}},
	}, {
		Name:    "pg",
		Members: []MemberStatus{{Name: "pg-1"}},
	}}
	if diff := cmp.Diff(want, all); diff != "" {
		t.Fatalf("Status (-want +got):\n%s", diff)
	}
}

func TestForceRelease(t *testing.T) {
	ctx := ctxT(t)
	p := New(redisClient(t), map[string][]string{"mysql": {"mysql-1"}}, Config{TTL: time.Minute})
	if _, err := p.ForceRelease(ctx, "mysql-9"); !errors.Is(err, ErrUnknownMember) || !strings.Contains(err.Error(), "mysql-9") {
		t.Fatalf("ForceRelease(unknown): %v", err)
	}
	if _, err := p.ForceRelease(ctx, "mysql-1"); !errors.Is(err, ErrNotLeased) || !strings.Contains(err.Error(), `"mysql-1" of pool "mysql"`) {
		t.Fatalf("ForceRelease(free): %v", err)
	}
	held, _, _ := p.TryAcquire(ctx, "mysql", "job:1")
	pos := make(chan int, 10)
	next := goAcquire(t, ctx, p, []string{"mysql"}, "job:2", pos)
	waitPos(t, pos, 1, "job:2")

	freed, err := p.ForceRelease(ctx, "mysql-1")
	if err != nil || freed != held {
		t.Fatalf("ForceRelease = %+v, %v; want %+v", freed, err, held)
	}
	if got := receive(t, next, "job:2 to get the freed member"); got.err != nil || got.leases[0].Member != "mysql-1" {
		t.Fatalf("job:2: %+v", got)
	}
	for i := 0; i < 2; i++ { // the loss is reported until the holder releases
		if ok, err := p.Renew(ctx, "job:1"); err != nil || ok {
			t.Fatalf("Renew of the holder whose lease was freed = %v, %v; want false", ok, err)
		}
	}
	if err := p.Release(ctx, "job:1"); err != nil {
		t.Fatal(err)
	}
	if ok, err := p.Renew(ctx, "job:1"); err != nil || !ok {
		t.Fatalf("Renew after release = %v, %v; want true", ok, err)
	}
	if got := holders(status(t, p, "mysql")); got["mysql-1"] != "job:2" {
		t.Fatalf("job:1's release freed job:2's member: %v", got)
	}
}

func TestNamespacesAreSeparate(t *testing.T) {
	ctx := ctxT(t)
	cli := redistest.Client(t)
	members := map[string][]string{"mysql": {"mysql-1"}}
	a := New(rdb.New(cli), members, Config{Namespace: "a"})
	b := New(rdb.New(cli), members, Config{Namespace: "b"})
	if _, ok, _ := a.TryAcquire(ctx, "mysql", "x"); !ok {
		t.Fatal("a: nothing free")
	}
	if _, ok, _ := b.TryAcquire(ctx, "mysql", "y"); !ok {
		t.Fatal("b saw a's lease")
	}
	keys, err := cli.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if !strings.HasPrefix(k, "{a}:pool:") && !strings.HasPrefix(k, "{b}:pool:") {
			t.Errorf("key %q is outside the namespaces", k)
		}
	}
}

func TestLeasesSurviveRedisRestart(t *testing.T) {
	srv := redistest.Start(t)
	if !srv.Real {
		t.Fatal("this test needs a real redis-server")
	}
	ctx := ctxT(t)
	p := New(rdb.New(srv.Client()), map[string][]string{"mysql": {"mysql-1", "mysql-2"}}, Config{TTL: time.Minute})
	l, _, err := p.TryAcquire(ctx, "mysql", "job:1")
	if err != nil {
		t.Fatal(err)
	}
	srv.Restart() // the script cache is empty afterwards
	if ok, err := p.Renew(ctx, "job:1"); err != nil || !ok {
		t.Fatalf("Renew after a restart = %v, %v", ok, err)
	}
	if got := holders(status(t, p, "mysql")); got[l.Member] != "job:1" {
		t.Fatalf("after a restart: %v", got)
	}
	if err := p.Release(ctx, "job:1"); err != nil {
		t.Fatal(err)
	}
}
