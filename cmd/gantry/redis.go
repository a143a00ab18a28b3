package main

import (
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"
)

// openRedis understands redis:// and rediss:// URLs, and
// redis+sentinel://… (?master_name=…) and redis+cluster://host1,host2 forms
// through go-redis's universal client.
func openRedis(url string) (redis.UniversalClient, error) {
	switch {
	case strings.HasPrefix(url, "redis+cluster://"), strings.HasPrefix(url, "rediss+cluster://"):
		u := strings.Replace(url, "+cluster", "", 1)
		opts, err := redis.ParseClusterURL(u)
		if err != nil {
			return nil, fmt.Errorf("not a valid cluster URL: %v", err)
		}
		return redis.NewClusterClient(opts), nil
	case strings.HasPrefix(url, "redis+sentinel://"), strings.HasPrefix(url, "rediss+sentinel://"):
		u := strings.Replace(url, "+sentinel", "", 1)
		opts, err := redis.ParseFailoverURL(u)
		if err != nil {
			return nil, fmt.Errorf("not a valid sentinel URL: %v", err)
		}
		return redis.NewFailoverClient(opts), nil
	}
	opts, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("not a valid redis:// or rediss:// URL: %v", err)
	}
	return redis.NewClient(opts), nil
}

func redactURL(u string) string {
	if i := strings.Index(u, "@"); i >= 0 {
		if j := strings.Index(u, "://"); j >= 0 && j < i {
			return u[:j+3] + "…@" + u[i+1:]
		}
	}
	return u
}
