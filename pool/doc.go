// Package pool leases the members of shared test resource pools (mysql-1,
// mysql-2, …) to holders, through Redis, so that no two holders ever use the
// same member at once.
//
// A holder is an opaque, non-empty string (gantry passes "job:42"); this
// package knows nothing of jobs or chat. A holder takes at most one member
// of each pool. It keeps what it took alive with a heartbeat (Renew, or
// Keepalive in a goroutine) and gives it back with Release; a holder that
// dies loses its leases when their time-to-live runs out.
//
// # Waiting
//
// Each pool has a line, served first come, first served. When a member is
// freed and someone waits, the freeing script hands the member straight to
// the head of the line, so a free member and a waiting holder never coexist
// once a script has looked at the pool. The new owner is told on the pool's
// pub/sub channel and confirms with one more script call; a slow poll (Poll)
// is the safety net for a lost message. A place in line has the same TTL as
// a lease and is kept alive by the waiting Acquire itself (and by Renew), so
// a waiter whose process died drops out of the line when it expires.
//
// A holder that needs several pools takes them one at a time in sorted
// order, holding the earlier ones while it waits for the next: every holder
// locks in the same order, so no cycle of waiters, and no deadlock, can form.
//
// # Time
//
// Expiry is decided by the Go clock of the caller (Config.Now), sent to every
// script as milliseconds since the epoch. All processes that share a Redis
// must keep their clocks in step (NTP) to well within the TTL. A lease or a
// place whose expiry has passed is gone, whether or not a script has swept it
// yet: scripts sweep expired entries of a pool before they read it, so
// correctness never depends on a background sweeper.
//
// # Key layout
//
// The keys and scripts live in the Redis layer; its package comment
// (internal/rdb/doc.go) lays out the keys of a pool.
package pool
