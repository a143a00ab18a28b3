package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gantry-ci/gantry/internal/redistest"
)

// The forms the README documents are taken apart as written: every host of
// the list, the data credentials from the user information, the
// sentinels' own from their options.
func TestRedisURLFormsAsDocumented(t *testing.T) {
	t.Run("cluster", func(t *testing.T) {
		tg, err := parseRedisURL("redis+cluster://app:s%40cret@10.0.0.1:7001,10.0.0.2:7002,node3/?dial_timeout=3s")
		if err != nil {
			t.Fatal(err)
		}
		o := tg.cluster
		if o == nil {
			t.Fatalf("not a cluster: %+v", tg)
		}
		want := []string{"10.0.0.1:7001", "10.0.0.2:7002", "node3:6379"}
		if strings.Join(o.Addrs, " ") != strings.Join(want, " ") {
			t.Errorf("addrs %v, want %v", o.Addrs, want)
		}
		if o.Username != "app" || o.Password != "s@cret" || o.DialTimeout != 3*time.Second || o.TLSConfig != nil {
			t.Errorf("options %+v", o)
		}
	})
	t.Run("cluster over TLS", func(t *testing.T) {
		tg, err := parseRedisURL("rediss+cluster://a.example.com:6379,b.example.com:6379")
		if err != nil {
			t.Fatal(err)
		}
		if tg.cluster.TLSConfig == nil || tg.cluster.TLSConfig.ServerName != "" {
			t.Errorf("TLS %+v: want TLS, each node checked under its own name", tg.cluster.TLSConfig)
		}
	})
	t.Run("sentinel", func(t *testing.T) {
		tg, err := parseRedisURL("rediss+sentinel://app:pw@s1:26380,s2,[::1]:26381/2?master_name=mymaster&sentinel_password=spw")
		if err != nil {
			t.Fatal(err)
		}
		o := tg.failover
		if o == nil {
			t.Fatalf("not a sentinel setup: %+v", tg)
		}
		want := []string{"s1:26380", "s2:26379", "[::1]:26381"}
		if strings.Join(o.SentinelAddrs, " ") != strings.Join(want, " ") {
			t.Errorf("sentinels %v, want %v", o.SentinelAddrs, want)
		}
		if o.MasterName != "mymaster" || o.DB != 2 || o.Username != "app" || o.Password != "pw" ||
			o.SentinelPassword != "spw" || o.TLSConfig == nil {
			t.Errorf("options %+v", o)
		}
	})
	t.Run("single", func(t *testing.T) {
		tg, err := parseRedisURL("redis://u:p@cache:6380/3")
		if err != nil {
			t.Fatal(err)
		}
		if o := tg.single; o == nil || o.Addr != "cache:6380" || o.DB != 3 || o.Password != "p" {
			t.Errorf("options %+v", tg.single)
		}
	})
}

// A wrong REDIS_URL is refused with what is wrong and the form that would
// work, and never with the password in it.
func TestRedisURLMistakesAreExplained(t *testing.T) {
	for _, tc := range []struct{ url, want string }{
		{"redis+sentinel://u:hunter2@s1:26379,s2:26379", "needs ?master_name=NAME"},
		{"redis+sentinel://:hunter2@/?master_name=m", "no host"},
		{"redis+cluster://u:hunter2@h1:7001,,h2:7002", "no host"},
		{"redis+cluster://u:hunter2@h1:nope", `"h1:nope" has no valid port`},
		{"redis+cluster://u:hunter2@h1:7001/5", "only database 0"},
		{"redis+cluster://u:hunter2@h1:7001/?bogus=1", "unexpected option: bogus"},
		{"redis+replica://u:hunter2@h1", `unknown Redis topology "replica"`},
		{"redis://u:hunter2@h1:7001,h2:7002", "names one server; for several use"},
		{"redis://u:hunter2@h1:port", "not a valid redis:// or rediss:// URL"},
		{"mysql://u:hunter2@db", "not a valid redis:// or rediss:// URL"},
		{"localhost:6379", "want redis://"},
	} {
		_, err := openRedis(tc.url)
		if err == nil {
			t.Errorf("%s: accepted", tc.url)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v\nwant it to say %q", tc.url, err, tc.want)
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: the error shows the password: %v", tc.url, err)
		}
	}
}

// Start-up stops with one line that names REDIS_URL.
func TestRedisURLMistakeStopsStartUpNamingIt(t *testing.T) {
	var errOut bytes.Buffer
	env := map[string]string{"REDIS_URL": "redis+sentinel://127.0.0.1:1,127.0.0.1:2"}
	m := &Main{Args: []string{"worker"}, Getenv: func(k string) string { return env[k] }, Stdout: &bytes.Buffer{}, Stderr: &errOut}
	defer m.Close()
	if code := m.Run(context.Background()); code != 1 {
		t.Fatalf("exit %d", code)
	}
	if !strings.Contains(errOut.String(), "gantry: REDIS_URL: redis+sentinel URL needs ?master_name=NAME") {
		t.Errorf("stderr: %s", errOut.String())
	}
}

func TestRedactURLHidesEveryPassword(t *testing.T) {
	got := redactURL("redis+sentinel://app:p@ss@s1,s2/?master_name=m&sentinel_password=spw&password=x")
	if want := "redis+sentinel://…@s1,s2/?master_name=m&sentinel_password=…&password=…"; got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

// clusterScript touches two keys in one script: it runs on a Redis Cluster
// only because both carry the {gantry} hash tag and so share a slot.
var clusterScript = redis.NewScript(`
redis.call('SET', KEYS[1], ARGV[1])
redis.call('RPUSH', KEYS[2], ARGV[1])
return redis.call('LLEN', KEYS[2])
`)

// A redis+cluster URL in the README's form reaches a real three-node
// cluster: keys on every node work, and a multi-key script on {gantry} keys
// runs. The URL names two of the nodes; the third is found.
func TestClusterURLAsDocumentedWorks(t *testing.T) {
	c := redistest.StartCluster(t, 3)
	rdb, err := openRedis("redis+cluster://" + c.Addrs[1] + "," + c.Addrs[2])
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	if _, ok := rdb.(*redis.ClusterClient); !ok {
		t.Fatalf("client %T, want a cluster client", rdb)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// Keys without a tag spread over the slots of all three nodes.
	for _, k := range []string{"a", "b", "c", "d", "e", "f"} {
		if err := rdb.Set(ctx, k, "v-"+k, 0).Err(); err != nil {
			t.Fatalf("SET %s: %v", k, err)
		}
	}
	for _, k := range []string{"a", "b", "c", "d", "e", "f"} {
		if v, err := rdb.Get(ctx, k).Result(); err != nil || v != "v-"+k {
			t.Fatalf("GET %s = %q, %v", k, v, err)
		}
	}
	if n := keysPerNode(ctx, t, c); n < 2 {
		t.Errorf("the keys sit on %d node(s): the test does not reach across the cluster", n)
	}

	keys := []string{"{gantry}:job:1", "{gantry}:queue"}
	for i := int64(1); i <= 2; i++ {
		n, err := clusterScript.Run(ctx, rdb, keys, "job-1").Int64()
		if err != nil || n != i {
			t.Fatalf("script run %d: %d, %v", i, n, err)
		}
	}
	if v, err := rdb.Get(ctx, keys[0]).Result(); err != nil || v != "job-1" {
		t.Fatalf("GET %s = %q, %v", keys[0], v, err)
	}
}

// keysPerNode counts the nodes that hold at least one key.
func keysPerNode(ctx context.Context, t *testing.T, c *redistest.Cluster) int {
	t.Helper()
	n := 0
	for _, addr := range c.Addrs {
		node := redis.NewClient(&redis.Options{Addr: addr})
		size, err := node.DBSize(ctx).Result()
		node.Close()
		if err != nil {
			t.Fatalf("DBSIZE %s: %v", addr, err)
		}
		if size > 0 {
			n++
		}
	}
	return n
}

// A redis+sentinel URL in the README's form follows a real failover: the
// master is killed, the sentinels promote the replica, and the same client
// writes to the new master with what was written before still there.
func TestSentinelURLFollowsAFailover(t *testing.T) {
	s := redistest.StartSentinel(t)
	rdb, err := openRedis(s.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*redistest.FailoverWithin)
	defer cancel()

	if err := rdb.Set(ctx, "{gantry}:before", "1", 0).Err(); err != nil {
		t.Fatalf("SET before the failover: %v", err)
	}
	// The replica must have the write before its master dies.
	if n, err := rdb.Do(ctx, "WAIT", 1, 10000).Int(); err != nil || n != 1 {
		t.Fatalf("WAIT for the replica: %d, %v", n, err)
	}

	old := s.KillMaster()
	promoted := s.WaitForFailover(old)
	t.Logf("master %s killed; %s promoted", old, promoted)

	// Writes fail while nobody is master; once the sentinels name the new
	// one, the same client must reach it within a few retries.
	var lastErr error
	deadline := time.Now().Add(20 * time.Second)
	for {
		lastErr = rdb.Set(ctx, "{gantry}:after", "2", 0).Err()
		if lastErr == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if lastErr != nil {
		t.Fatalf("no write succeeded within 20s of the promotion: %v", lastErr)
	}
	for k, want := range map[string]string{"{gantry}:before": "1", "{gantry}:after": "2"} {
		if v, err := rdb.Get(ctx, k).Result(); err != nil || v != want {
			t.Errorf("GET %s = %q, %v; want %q", k, v, err, want)
		}
	}
	info, err := rdb.Info(ctx, "server").Result()
	if err != nil || !strings.Contains(info, "tcp_port:"+portOf(promoted)+"\r") {
		t.Errorf("the client does not talk to the promoted %s: %v", promoted, err)
	}
}

func portOf(addr string) string {
	_, p, _ := strings.Cut(addr, ":")
	return p
}

// oldRedis is a server that speaks just enough RESP to be an old Redis:
// PONG to PING, its version to INFO, and "unknown command" (as Redis 5
// answers HELLO) to the rest.
func oldRedis(t *testing.T, version string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					args, err := readRESPCommand(r)
					if err != nil {
						return
					}
					switch strings.ToUpper(args[0]) {
					case "PING":
						io.WriteString(c, "+PONG\r\n")
					case "INFO":
						body := "# Server\r\nredis_version:" + version + "\r\nredis_mode:standalone\r\n"
						fmt.Fprintf(c, "$%d\r\n%s\r\n", len(body), body)
					default:
						fmt.Fprintf(c, "-ERR unknown command '%s'\r\n", args[0])
					}
				}
			}()
		}
	}()
	return "redis://" + l.Addr().String()
}

// readRESPCommand reads one command: an array of bulk strings.
func readRESPCommand(r *bufio.Reader) ([]string, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	n, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(line, "*")))
	if err != nil || n < 1 {
		return nil, fmt.Errorf("not a command: %q", line)
	}
	args := make([]string, n)
	for i := range args {
		if _, err := r.ReadString('\n'); err != nil { // $len
			return nil, err
		}
		arg, err := r.ReadString('\n')
		if err != nil {
			return nil, err
		}
		args[i] = strings.TrimSuffix(arg, "\r\n")
	}
	return args, nil
}

// TestOldRedisStopsStartUpNamingItsVersion: on Redis 6.0 gantry started,
// and its queue failed later, at the first XAUTOCLAIM or XTRIM MINID.
func TestOldRedisStopsStartUpNamingItsVersion(t *testing.T) {
	for version, want := range map[string]string{
		"6.0.16": "gantry: REDIS_URL: the server is Redis 6.0.16; gantry needs Redis 6.2 or newer",
		"5.0.7":  "gantry: REDIS_URL: the server is Redis 5.0.7; gantry needs Redis 6.2 or newer",
		"6.2.14": "runner.local.trusted", // past the Redis check: the next one stops the worker
	} {
		var errOut bytes.Buffer
		env := map[string]string{"REDIS_URL": oldRedis(t, version)}
		m := &Main{Args: []string{"worker"}, Getenv: func(k string) string { return env[k] }, Stdout: &bytes.Buffer{}, Stderr: &errOut}
		code := m.Run(context.Background())
		m.Close()
		if code != 1 || !strings.Contains(errOut.String(), want) {
			t.Errorf("Redis %s: exit %d, stderr %q, want %q", version, code, errOut.String(), want)
		}
	}
}
