package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// The forms of REDIS_URL gantry understands. Options after "?" are
// go-redis's URL options (dial_timeout, pool_size, …); user and password
// are those of the Redis that holds the data.
//
//	redis://[user:pass@]host:port[/db][?opts]                one server
//	redis+cluster://[user:pass@]host:port,host:port[?opts]   Redis Cluster: a few nodes, the rest are found
//	redis+sentinel://[user:pass@]host:port,host:port[/db]?master_name=NAME[&sentinel_username=U&sentinel_password=P]
//
// rediss, rediss+cluster and rediss+sentinel are the same over TLS.
const redisForms = "redis://[user:pass@]host:port[/db], " +
	"redis+cluster://[user:pass@]host:port,host:port or " +
	"redis+sentinel://[user:pass@]host:port,host:port/?master_name=NAME (rediss… for TLS)"

// Default ports when a host names none.
const (
	redisPort    = "6379"
	sentinelPort = "26379"
)

// openRedis returns a client for REDIS_URL in any of the forms above. Its
// errors never repeat the URL, which may hold a password.
func openRedis(raw string) (redis.UniversalClient, error) {
	t, err := parseRedisURL(raw)
	if err != nil {
		return nil, err
	}
	return t.client(), nil
}

// redisTarget is what a REDIS_URL names: exactly one of its fields is set.
type redisTarget struct {
	single   *redis.Options
	cluster  *redis.ClusterOptions
	failover *redis.FailoverOptions
}

func (t *redisTarget) client() redis.UniversalClient {
	switch {
	case t.cluster != nil:
		return redis.NewClusterClient(t.cluster)
	case t.failover != nil:
		return redis.NewFailoverClient(t.failover)
	}
	return redis.NewClient(t.single)
}

func parseRedisURL(raw string) (*redisTarget, error) {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return nil, fmt.Errorf("not a valid redis:// or rediss:// URL: want %s", redisForms)
	}
	base, topology, _ := strings.Cut(scheme, "+")
	if base != "redis" && base != "rediss" {
		return nil, fmt.Errorf("not a valid redis:// or rediss:// URL: scheme %q; want %s", scheme, redisForms)
	}
	switch topology {
	case "":
		return parseSingle(raw)
	case "cluster":
		return parseCluster(base, rest)
	case "sentinel":
		return parseSentinel(base, rest)
	}
	return nil, fmt.Errorf("unknown Redis topology %q in scheme %q: want %s", topology, scheme, redisForms)
}

func parseSingle(raw string) (*redisTarget, error) {
	_, rest, _ := strings.Cut(raw, "://")
	hosts, _, _ := strings.Cut(rest, "/")
	if i := strings.LastIndex(hosts, "@"); i >= 0 {
		hosts = hosts[i+1:]
	}
	if strings.Contains(hosts, ",") {
		return nil, fmt.Errorf("a redis:// URL names one server; for several use %s", redisForms)
	}
	opts, err := redis.ParseURL(raw)
	if err != nil {
		return nil, fmt.Errorf("not a valid redis:// or rediss:// URL: %w", hideURL(err))
	}
	return &redisTarget{single: opts}, nil
}

func parseCluster(base, rest string) (*redisTarget, error) {
	u, err := splitHostsURL(base, rest, redisPort)
	if err != nil {
		return nil, fmt.Errorf("redis+cluster URL: %w", err)
	}
	if p := strings.Trim(u.path, "/"); p != "" && p != "0" {
		return nil, fmt.Errorf("redis+cluster URL: Redis Cluster has only database 0, not %q", p)
	}
	opts, err := redis.ParseClusterURL(u.goRedisURL(u.query))
	if err != nil {
		return nil, fmt.Errorf("redis+cluster URL: %w", hideURL(err))
	}
	opts.Username, opts.Password = u.user, u.password
	if opts.TLSConfig != nil {
		// Each node is verified under the name it is dialled by.
		opts.TLSConfig.ServerName = ""
	}
	return &redisTarget{cluster: opts}, nil
}

func parseSentinel(base, rest string) (*redisTarget, error) {
	u, err := splitHostsURL(base, rest, sentinelPort)
	if err != nil {
		return nil, fmt.Errorf("redis+sentinel URL: %w", err)
	}
	q := u.query
	if q.Get("master_name") == "" {
		return nil, fmt.Errorf("redis+sentinel URL needs ?master_name=NAME, the name the sentinels monitor (sentinels: %s)", strings.Join(u.hosts, ","))
	}
	sentinelUser, sentinelPassword := q.Get("sentinel_username"), q.Get("sentinel_password")
	q.Del("sentinel_username")
	q.Del("sentinel_password")
	opts, err := redis.ParseFailoverURL(u.goRedisURL(q))
	if err != nil {
		return nil, fmt.Errorf("redis+sentinel URL: %w", hideURL(err))
	}
	if u.user != "" || u.password != "" {
		opts.Username, opts.Password = u.user, u.password
	}
	opts.SentinelUsername, opts.SentinelPassword = sentinelUser, sentinelPassword
	if opts.TLSConfig != nil {
		// The master is verified under the name the sentinels give for it.
		opts.TLSConfig.ServerName = ""
	}
	return &redisTarget{failover: opts}, nil
}

// hostsURL is a URL whose authority lists several hosts, taken apart.
type hostsURL struct {
	scheme         string // redis or rediss
	user, password string
	hosts          []string // host:port, at least one
	path           string
	query          url.Values
}

// splitHostsURL takes apart what follows "scheme://" in a URL whose
// authority is a comma-separated list of hosts, which url.Parse cannot read.
// Hosts without a port get defaultPort.
func splitHostsURL(scheme, rest, defaultPort string) (*hostsURL, error) {
	u := &hostsURL{scheme: scheme}
	authority, tail := rest, ""
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		authority, tail = rest[:i], rest[i:]
	}
	if i := strings.LastIndex(authority, "@"); i >= 0 {
		var err error
		if u.user, u.password, err = splitUserinfo(authority[:i]); err != nil {
			return nil, err
		}
		authority = authority[i+1:]
	}
	for h := range strings.SplitSeq(authority, ",") {
		hp, err := hostPort(strings.TrimSpace(h), defaultPort)
		if err != nil {
			return nil, err
		}
		u.hosts = append(u.hosts, hp)
	}
	t, err := url.Parse("x://h" + tail)
	if err != nil {
		return nil, fmt.Errorf("path or options after the hosts: %w", hideURL(err))
	}
	if t.Fragment != "" {
		return nil, errors.New("a Redis URL has no #fragment")
	}
	u.path, u.query = t.Path, t.Query()
	return u, nil
}

func splitUserinfo(s string) (user, password string, err error) {
	user, password, _ = strings.Cut(s, ":")
	if user, err = url.PathUnescape(user); err != nil {
		return "", "", errors.New("the user name is not properly %-escaped")
	}
	if password, err = url.PathUnescape(password); err != nil {
		return "", "", errors.New("the password is not properly %-escaped")
	}
	return user, password, nil
}

// hostPort checks one host of the list and adds the default port.
func hostPort(h, defaultPort string) (string, error) {
	if h == "" {
		return "", errors.New("no host (want host:port, or several separated by commas)")
	}
	host, port, err := net.SplitHostPort(h)
	if err != nil {
		// No port: a name, an IPv4 address or a bracketed IPv6 address.
		host, port = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]"), defaultPort
	}
	if host == "" || strings.ContainsAny(host, "[]/ ") {
		return "", fmt.Errorf("%q is not a host or host:port", h)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("%q has no valid port", h)
	}
	return net.JoinHostPort(host, port), nil
}

// goRedisURL is the single-host URL with ?addr= for the other hosts that
// go-redis's parsers read, with q as its options. Credentials stay out of
// it: the caller sets them on the options.
func (u *hostsURL) goRedisURL(q url.Values) string {
	opts := url.Values{}
	for k, v := range q {
		opts[k] = v
	}
	for _, h := range u.hosts[1:] {
		opts.Add("addr", h)
	}
	g := url.URL{Scheme: u.scheme, Host: u.hosts[0], Path: u.path, RawQuery: opts.Encode()}
	return g.String()
}

// hideURL drops the URL that url.Parse puts in its errors: it may hold a
// password.
func hideURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// redactURL is REDIS_URL fit for a message: without user information and
// with the value of any password option hidden.
func redactURL(raw string) string {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return "(not a URL)"
	}
	head, query, hasQuery := strings.Cut(rest, "?")
	if i := strings.LastIndex(head, "@"); i >= 0 {
		head = "…@" + head[i+1:]
	}
	if !hasQuery {
		return scheme + "://" + head
	}
	params := strings.Split(query, "&")
	for i, p := range params {
		if k, _, ok := strings.Cut(p, "="); ok && strings.Contains(strings.ToLower(k), "password") {
			params[i] = k + "=…"
		}
	}
	return scheme + "://" + head + "?" + strings.Join(params, "&")
}

// checkRedisVersion refuses a Redis older than 6.2, which gantry's queue
// needs (XAUTOCLAIM, XTRIM … MINID): on an older one start-up would pass
// and the first reclaim or trim would fail. A server that does not say
// its version (INFO refused) is let through.
func checkRedisVersion(ctx context.Context, rdb redis.UniversalClient) error {
	info, err := rdb.Info(ctx, "server").Result()
	if err != nil {
		return nil
	}
	for line := range strings.Lines(info) {
		v, ok := strings.CutPrefix(strings.TrimSpace(line), "redis_version:")
		if !ok {
			continue
		}
		parts := strings.SplitN(v, ".", 3)
		major, err1 := strconv.Atoi(parts[0])
		minor := 0
		var err2 error
		if len(parts) > 1 {
			minor, err2 = strconv.Atoi(parts[1])
		}
		if err1 == nil && err2 == nil && (major < 6 || major == 6 && minor < 2) {
			return fmt.Errorf("the server is Redis %s; gantry needs Redis 6.2 or newer (its queue uses XAUTOCLAIM and XTRIM … MINID)", v)
		}
		return nil
	}
	return nil
}
