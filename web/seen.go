package web

import (
	"encoding/hex"
	"github.com/gantry-ci/gantry/internal/rdb"
)

// seenKeys are the two records that make a webhook count once: its
// X-GitHub-Delivery, which GitHub keeps when it redelivers, and the
// SHA-256 of its body, which someone who captured a signed body cannot
// change without breaking the signature.
//
//	{gantry}:seen:github:DELIVERY          string  the delivery was accepted (72 h)
//	{gantry}:seen:github-body:SHA256HEX    string  the delivery that carried this body (72 h)
//
// Both are set with the webhook's entry in the Inbox, in one script, and
// both are dropped when it is dead-lettered.
type seenKeys struct {
	delivery string
	id       string // the delivery id, kept as the body record's value
	body     string
}

func seenKeysFor(k rdb.Keys, delivery string, bodySum []byte) seenKeys {
	return seenKeys{
		delivery: k.Seen("github:" + delivery),
		id:       delivery,
		body:     k.Seen("github-body:" + hex.EncodeToString(bodySum)),
	}
}
