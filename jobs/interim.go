package jobs

import (
	"github.com/redis/go-redis/v9"

	"github.com/gantry-ci/gantry/internal/rdb"
)

// Interim escape hatches for scm and web, whose Redis code has not moved
// into internal/rdb yet; they go when it has.

// Keys returns the key builder.
func (s *Store) Keys() rdb.Keys { return s.keys }

// Redis returns the client the store uses.
func (s *Store) Redis() redis.UniversalClient { return s.c.Universal() }
