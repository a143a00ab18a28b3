package redistest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Topologies: a Redis Cluster and a Sentinel-watched master with a
// replica, each made of real redis-server processes on free loopback ports
// and torn down when the test ends. Unlike Start there is no embedded
// fallback: without redis-server (and redis-cli for a cluster) the test
// fails, naming what to install.
//
// Every wait polls with a deadline; none of them is a fixed sleep.

// SentinelMaster is the name the sentinels of StartSentinel monitor.
const SentinelMaster = "gantry"

// Deadlines for the slow steps, generous for a loaded machine.
const (
	nodeReadyWithin    = 10 * time.Second
	clusterReadyWithin = 60 * time.Second
	sentinelReadyWith  = 60 * time.Second
	// FailoverWithin bounds WaitForFailover: an election that splits is
	// retried after twice the failover-timeout (5 s here).
	FailoverWithin = 60 * time.Second
)

// node is one redis-server process of a topology.
type node struct {
	addr string
	dir  string
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited

	mu     sync.Mutex
	killed bool
}

// needBinaries finds the programs a topology needs, or ends the test.
func needBinaries(t testing.TB, names ...string) []string {
	t.Helper()
	paths := make([]string, len(names))
	for i, name := range names {
		p, err := exec.LookPath(name)
		if err != nil {
			t.Fatalf("%s not found on PATH: this test needs a real Redis topology (Debian: apt-get install redis-server)", name)
		}
		paths[i] = p
	}
	return paths
}

// startNode runs bin with args plus "--port N" on a free port, and returns
// once that very process (not another one that took the port) answers.
// extraPorts names further "--flag" options that need a free port each.
func startNode(t testing.TB, bin, dir string, args []string, extraPorts ...string) *node {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("redis node dir: %v", err)
	}
	for attempt := 0; attempt < 5; attempt++ {
		port := freePort(t)
		full := append(append([]string{}, args...), "--port", strconv.Itoa(port))
		for _, flag := range extraPorts {
			full = append(full, flag, strconv.Itoa(freePort(t)))
		}
		n := &node{addr: "127.0.0.1:" + strconv.Itoa(port), dir: dir, done: make(chan struct{})}
		n.cmd = exec.Command(bin, full...)
		n.cmd.Dir = dir
		if err := n.cmd.Start(); err != nil {
			t.Fatalf("start %s: %v", bin, err)
		}
		go func() { _ = n.cmd.Wait(); close(n.done) }()
		if n.waitOwnPID(nodeReadyWithin) {
			t.Cleanup(n.kill)
			return n
		}
		n.kill()
	}
	t.Fatalf("%s %s did not become ready (see %s)", bin, strings.Join(args, " "), dir)
	return nil
}

// waitOwnPID polls until the server at n.addr reports n's process id.
func (n *node) waitOwnPID(within time.Duration) bool {
	want := strconv.Itoa(n.cmd.Process.Pid)
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		select {
		case <-n.done:
			return false
		default:
		}
		if info, err := command(n.addr, "INFO", "server"); err == nil && infoField(info, "process_id") == want {
			return true
		}
		time.Sleep(50 * time.Millisecond)
	}
	return false
}

// kill ends the process at once (SIGKILL) and waits for it.
func (n *node) kill() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.killed {
		return
	}
	n.killed = true
	_ = n.cmd.Process.Kill()
	<-n.done
}

// command runs one command on addr with a short-lived connection and
// returns its reply as text.
func command(addr string, args ...any) (string, error) {
	v, err := commandValue(addr, args...)
	if err != nil {
		return "", err
	}
	return fmt.Sprint(v), nil
}

// commandValue runs one command on addr with a short-lived connection
// (RESP2, so replies are strings, numbers and arrays).
func commandValue(addr string, args ...any) (any, error) {
	c := redis.NewClient(&redis.Options{
		Addr: addr, DialTimeout: time.Second, ReadTimeout: 2 * time.Second, WriteTimeout: time.Second,
		MaxRetries: -1, PoolSize: 1, DisableIdentity: true, Protocol: 2,
	})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	return c.Do(ctx, args...).Result()
}

// sentinelTable runs a SENTINEL subcommand that lists servers and returns
// each as field -> value.
func sentinelTable(addr string, args ...any) ([]map[string]string, error) {
	v, err := commandValue(addr, append([]any{"SENTINEL"}, args...)...)
	if err != nil {
		return nil, err
	}
	rows, _ := v.([]any)
	out := make([]map[string]string, 0, len(rows))
	for _, r := range rows {
		flat, _ := r.([]any)
		m := map[string]string{}
		for i := 0; i+1 < len(flat); i += 2 {
			m[fmt.Sprint(flat[i])] = fmt.Sprint(flat[i+1])
		}
		out = append(out, m)
	}
	return out, nil
}

// sentinelMaster asks the sentinel at addr for the master's host:port.
func sentinelMaster(addr, name string) (string, error) {
	v, err := commandValue(addr, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", name)
	if err != nil {
		return "", err
	}
	hp, _ := v.([]any)
	if len(hp) != 2 {
		return "", fmt.Errorf("sentinel %s knows no master %q", addr, name)
	}
	return fmt.Sprintf("%v:%v", hp[0], hp[1]), nil
}

// healthyReplica says whether a SENTINEL REPLICAS row is a replica a
// failover can promote.
func healthyReplica(r map[string]string) bool {
	flags := strings.Split(r["flags"], ",")
	for _, bad := range []string{"s_down", "o_down", "disconnected"} {
		if slices.Contains(flags, bad) {
			return false
		}
	}
	return slices.Contains(flags, "slave") && r["master-link-status"] == "ok"
}

// infoField returns a field of an INFO or CLUSTER INFO reply.
func infoField(info, key string) string {
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), key+":"); ok {
			return v
		}
	}
	return ""
}

// poll calls ok until it is true or within has passed; it returns the last
// reason ok gave for not being done.
func poll(within time.Duration, ok func() (bool, string)) (bool, string) {
	deadline := time.Now().Add(within)
	why := "not tried"
	for {
		done, reason := ok()
		if done {
			return true, ""
		}
		why = reason
		if time.Now().After(deadline) {
			return false, why
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// dumpLogsOnFailure prints the end of each node's log when the test failed.
func dumpLogsOnFailure(t testing.TB, nodes func() []*node) {
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		for _, n := range nodes() {
			b, _ := os.ReadFile(filepath.Join(n.dir, "redis.log"))
			if len(b) > 4000 {
				b = b[len(b)-4000:]
			}
			t.Logf("log of redis %s:\n%s", n.addr, b)
		}
	})
}

// Cluster is a Redis Cluster of masters without replicas.
type Cluster struct {
	Addrs []string // every node, host:port

	t     testing.TB
	nodes []*node
}

// StartCluster runs n (at least 3) cluster-enabled redis-servers, joins them
// with redis-cli --cluster create, and returns once every node sees all
// 16384 slots served.
func StartCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	if n < 3 {
		t.Fatalf("StartCluster: a Redis Cluster needs at least 3 masters, not %d", n)
	}
	bins := needBinaries(t, "redis-server", "redis-cli")
	c := &Cluster{t: t}
	root := t.TempDir()
	dumpLogsOnFailure(t, func() []*node { return c.nodes })
	for i := range n {
		dir := filepath.Join(root, fmt.Sprintf("node%d", i))
		nd := startNode(t, bins[0], dir, []string{
			"--bind", "127.0.0.1", "--dir", dir, "--logfile", "redis.log", "--daemonize", "no",
			"--save", "", "--appendonly", "no",
			"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "5000",
		}, "--cluster-port")
		c.nodes = append(c.nodes, nd)
		c.Addrs = append(c.Addrs, nd.addr)
	}
	c.create(bins[1])
	c.waitServed()
	return c
}

func (c *Cluster) create(cli string) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), clusterReadyWithin)
	defer cancel()
	args := append([]string{"--cluster", "create"}, c.Addrs...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	out, err := exec.CommandContext(ctx, cli, args...).CombinedOutput()
	if err != nil {
		c.t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
}

// waitServed polls until every node reports the cluster ok, knows every
// node and sees all slots assigned.
func (c *Cluster) waitServed() {
	c.t.Helper()
	want := strconv.Itoa(len(c.nodes))
	ok, why := poll(clusterReadyWithin, func() (bool, string) {
		for _, n := range c.nodes {
			info, err := command(n.addr, "CLUSTER", "INFO")
			if err != nil {
				return false, n.addr + ": " + err.Error()
			}
			if infoField(info, "cluster_state") != "ok" || infoField(info, "cluster_known_nodes") != want ||
				infoField(info, "cluster_slots_ok") != "16384" {
				return false, n.addr + ":\n" + info
			}
		}
		return true, ""
	})
	if !ok {
		c.t.Fatalf("the cluster did not come up within %s: %s", clusterReadyWithin, why)
	}
}

// URL is the cluster as a REDIS_URL.
func (c *Cluster) URL() string { return "redis+cluster://" + strings.Join(c.Addrs, ",") }

// Client returns a cluster client, closed when the test ends.
func (c *Cluster) Client() *redis.ClusterClient {
	cl := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs})
	c.t.Cleanup(func() { _ = cl.Close() })
	return cl
}

// Sentinel is a master with one replica, watched by three sentinels
// (quorum 2) that fail over a second after the master stops answering.
type Sentinel struct {
	MasterName string   // SentinelMaster
	Sentinels  []string // the sentinels, host:port

	t         testing.TB
	mu        sync.Mutex
	data      map[string]*node // master and replica by address
	sentinels []*node
}

// StartSentinel runs the master, its replica and three sentinels, and
// returns once the replica is in sync and every sentinel knows the replica
// and the other sentinels, so that a failover can happen.
func StartSentinel(t testing.TB) *Sentinel {
	t.Helper()
	bin := needBinaries(t, "redis-server")[0]
	s := &Sentinel{MasterName: SentinelMaster, t: t, data: map[string]*node{}}
	root := t.TempDir()
	dumpLogsOnFailure(t, s.allNodes)
	master := s.startData(bin, filepath.Join(root, "master"))
	replica := s.startData(bin, filepath.Join(root, "replica"), "--replicaof", "127.0.0.1", port(master.addr))
	s.waitInSync(replica.addr)
	for i := range 3 {
		s.startSentinel(bin, filepath.Join(root, fmt.Sprintf("sentinel%d", i)), master.addr)
	}
	s.waitWatching()
	return s
}

func (s *Sentinel) allNodes() []*node {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := append([]*node{}, s.sentinels...)
	for _, n := range s.data {
		out = append(out, n)
	}
	return out
}

func (s *Sentinel) startData(bin, dir string, extra ...string) *node {
	s.t.Helper()
	args := append([]string{
		"--bind", "127.0.0.1", "--dir", dir, "--logfile", "redis.log", "--daemonize", "no",
		"--save", "", "--appendonly", "no",
	}, extra...)
	n := startNode(s.t, bin, dir, args)
	s.mu.Lock()
	s.data[n.addr] = n
	s.mu.Unlock()
	return n
}

// startSentinel writes a sentinel config (sentinels rewrite theirs, so each
// has its own file) and runs redis-server in sentinel mode.
func (s *Sentinel) startSentinel(bin, dir, master string) {
	s.t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		s.t.Fatalf("sentinel dir: %v", err)
	}
	conf := filepath.Join(dir, "sentinel.conf")
	text := fmt.Sprintf(`bind 127.0.0.1
dir %s
logfile redis.log
sentinel monitor %s 127.0.0.1 %s 2
sentinel down-after-milliseconds %[2]s 1000
sentinel failover-timeout %[2]s 5000
sentinel parallel-syncs %[2]s 1
`, dir, s.MasterName, port(master))
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		s.t.Fatalf("sentinel config: %v", err)
	}
	n := startNode(s.t, bin, dir, []string{conf, "--sentinel"})
	s.mu.Lock()
	s.sentinels = append(s.sentinels, n)
	s.Sentinels = append(s.Sentinels, n.addr)
	s.mu.Unlock()
}

// waitInSync polls until the replica's link to its master is up.
func (s *Sentinel) waitInSync(replica string) {
	s.t.Helper()
	ok, why := poll(sentinelReadyWith, func() (bool, string) {
		info, err := command(replica, "INFO", "replication")
		if err != nil {
			return false, err.Error()
		}
		return infoField(info, "master_link_status") == "up", info
	})
	if !ok {
		s.t.Fatalf("replica %s did not sync within %s: %s", replica, sentinelReadyWith, why)
	}
}

// waitWatching polls until each sentinel knows one healthy replica and the
// two other sentinels.
func (s *Sentinel) waitWatching() {
	s.t.Helper()
	ok, why := poll(sentinelReadyWith, func() (bool, string) {
		for _, addr := range s.Sentinels {
			replicas, err := sentinelTable(addr, "REPLICAS", s.MasterName)
			if err != nil {
				return false, addr + ": " + err.Error()
			}
			if len(replicas) != 1 || !healthyReplica(replicas[0]) {
				return false, fmt.Sprintf("%s sees replicas %v", addr, replicas)
			}
			others, err := sentinelTable(addr, "SENTINELS", s.MasterName)
			if err != nil {
				return false, addr + ": " + err.Error()
			}
			if len(others) != len(s.Sentinels)-1 {
				return false, fmt.Sprintf("%s knows %d other sentinels", addr, len(others))
			}
		}
		return true, ""
	})
	if !ok {
		s.t.Fatalf("the sentinels were not ready within %s: %s", sentinelReadyWith, why)
	}
}

// URL is the setup as a REDIS_URL.
func (s *Sentinel) URL() string {
	return "redis+sentinel://" + strings.Join(s.Sentinels, ",") + "/?master_name=" + s.MasterName
}

// Client returns a failover client that follows the master, closed when
// the test ends.
func (s *Sentinel) Client() *redis.Client {
	c := redis.NewFailoverClient(&redis.FailoverOptions{MasterName: s.MasterName, SentinelAddrs: s.Sentinels})
	s.t.Cleanup(func() { _ = c.Close() })
	return c
}

// Master is the master's address as the sentinels report it ("" when none
// of them answers).
func (s *Sentinel) Master() string {
	for _, addr := range s.Sentinels {
		if m, err := sentinelMaster(addr, s.MasterName); err == nil {
			return m
		}
	}
	return ""
}

// KillMaster sends SIGKILL to the current master and returns its address.
func (s *Sentinel) KillMaster() string {
	s.t.Helper()
	addr := s.Master()
	s.mu.Lock()
	n := s.data[addr]
	s.mu.Unlock()
	if n == nil {
		s.t.Fatalf("KillMaster: the sentinels report master %q, which is not one of this setup's servers", addr)
	}
	n.kill()
	return addr
}

// WaitForFailover polls until every sentinel reports a master other than
// old and that server says it is a master, and returns its address.
func (s *Sentinel) WaitForFailover(old string) string {
	s.t.Helper()
	var master string
	ok, why := poll(FailoverWithin, func() (bool, string) {
		for _, addr := range s.Sentinels {
			got, err := sentinelMaster(addr, s.MasterName)
			if err != nil {
				return false, err.Error()
			}
			if got == old {
				return false, addr + " still reports " + old
			}
			master = got
		}
		info, err := command(master, "INFO", "replication")
		if err != nil {
			return false, master + ": " + err.Error()
		}
		return infoField(info, "role") == "master", master + ": " + infoField(info, "role")
	})
	if !ok {
		s.t.Fatalf("no failover from %s within %s: %s", old, FailoverWithin, why)
	}
	return master
}

func port(addr string) string {
	_, p, _ := strings.Cut(addr, ":")
	return p
}
