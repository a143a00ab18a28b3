package web

import (
	"context"
	"encoding/hex"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/gantry-ci/gantry/jobs"
)

// seenKeys are the two records that make a webhook count once: its
// X-GitHub-Delivery, which GitHub keeps when it redelivers, and the
// SHA-256 of its body, which someone who captured a signed body cannot
// change without breaking the signature.
//
//	{gantry}:seen:github:DELIVERY          string  the delivery was accepted (72 h)
//	{gantry}:seen:github-body:SHA256HEX    string  the delivery that carried this body (72 h)
type seenKeys struct {
	delivery string
	id       string // the delivery id, kept as the body record's value
	body     string
}

func seenKeysFor(k jobs.Keys, delivery string, bodySum []byte) seenKeys {
	return seenKeys{
		delivery: k.Seen("github:" + delivery),
		id:       delivery,
		body:     k.Seen("github-body:" + hex.EncodeToString(bodySum)),
	}
}

// claimSeen records both or neither: it answers 1 when the delivery id was
// seen, 2 (and the delivery that carried it) when the body was.
var claimSeen = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return {1, ''} end
local prev = redis.call('GET', KEYS[2])
if prev then return {2, prev} end
redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[1])
return {0, ''}
`)

// claim records the webhook as seen for webhookDedupe. It returns "" the
// first time, else what makes it a duplicate, for the log.
func (s seenKeys) claim(ctx context.Context, rdb redis.Scripter) (string, error) {
	res, err := claimSeen.Run(ctx, rdb, []string{s.delivery, s.body}, webhookDedupe.Milliseconds(), s.id).Slice()
	if err != nil {
		return "", fmt.Errorf("record GitHub delivery %s: %w", s.id, err)
	}
	switch code, _ := res[0].(int64); code {
	case 0:
		return "", nil
	case 1:
		return "redelivery", nil
	default:
		return fmt.Sprintf("the same body came before as delivery %v; replay", res[1]), nil
	}
}

// forget removes both records, so that GitHub's redelivery of a webhook
// gantry could not act on is acted on.
func (s seenKeys) forget(ctx context.Context, rdb redis.Cmdable) error {
	if err := rdb.Del(ctx, s.delivery, s.body).Err(); err != nil {
		return fmt.Errorf("forget GitHub delivery %s: %w", s.id, err)
	}
	return nil
}
