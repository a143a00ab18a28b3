// Package rdb is gantry's Redis layer: every key, command, Lua script and
// pub/sub channel gantry uses lives here, and no other package (save
// cmd/gantry, which opens the client, and the test and benchmark helpers)
// imports go-redis. The domain packages (jobs, pool, scm, web) decide what
// to do; the types of this package do it in Redis and return plain data.
//
// Every key carries one hash tag, {NS} (the namespace, default "gantry"),
// so that the multi-key scripts also run on Redis Cluster: a script is
// given its keys, or a prefix of the same hash tag from which it builds a
// job's own keys, so every key of one call lies in one slot. Keys documents the
// keys of jobs; the layouts below are those of the resource pools
// (PoolStore), the GitHub outbox (Outbox) and the GitHub webhook inbox
// (Inbox).
//
// # Resource pools
//
// For a pool P and a holder H (the pools of PoolStoreConfig.Namespace NS):
//
//	{NS}:pool:exp:P      zset    member -> lease expiry (ms); members not in it are free
//	{NS}:pool:owner:P    hash    member -> "SINCE HOLDER" (SINCE: lease start, ms)
//	{NS}:pool:held:P     hash    holder -> member (the reverse of owner)
//	{NS}:pool:line:P     zset    holder -> ticket; the line, in order of arrival
//	{NS}:pool:place:P    zset    holder -> place-in-line expiry (ms)
//	{NS}:pool:joined:P   hash    holder -> when it joined the line (ms)
//	{NS}:pool:seq        string  last ticket handed out (INCR), for all pools
//	{NS}:pool:holder:H   hash    pool -> "=MEMBER" (a lease H was told of) or
//	                             "!MEMBER" (a lease H lost); kept a day after the
//	                             last heartbeat, so Renew can report a loss
//	{NS}:pool:wake:P     pubsub  a holder's name: it was handed a member;
//	                             "": the line moved
//
// Only the holder's own calls write its {NS}:pool:holder:H record.
//
// # GitHub outbox
//
// For a queue Q (a commit's statuses, or a deployment's):
//
//	{NS}:github:outbox:q:Q       list    the queue's reports, oldest first (JSON)
//	{NS}:github:outbox:due       zset    queues with reports, scored by when the first may be tried
//	                                     (while a process holds the queue: when its lease ends)
//	{NS}:github:outbox:lease:Q   string  the process delivering the queue's first report (TTL: the lease)
//	{NS}:github:outbox:depth     string  reports in all queues
//	{NS}:github:outbox:dead      stream  reports given up, with why (capped at about 1000)
//
// # GitHub webhook inbox
//
//	{NS}:github:webhooks                stream  accepted webhooks not yet acted on (consumer group "webhooks")
//	{NS}:github:webhooks:dead           stream  webhooks given up on, with why (capped at about 1000)
//	{NS}:seen:github:DELIVERY           string  the delivery was accepted (72 h)
//	{NS}:seen:github-body:SHA256HEX     string  the delivery that carried this body (72 h)
//
// A webhook's two seen records are set with its entry in the stream, in
// one script, and both are dropped when it is dead-lettered.
package rdb
