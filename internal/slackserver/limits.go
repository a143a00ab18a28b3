package slackserver

import (
	"encoding/json"
	"fmt"
	"unicode/utf8"
)

// Slack's limits on a message, as this server enforces them on
// chat.postMessage, chat.update, chat.postEphemeral and response_url posts.
const (
	// MaxBlocks is the most blocks a message may have; more is invalid_blocks.
	MaxBlocks = 50
	// MaxSectionText is the longest text of a section block; longer is
	// invalid_blocks.
	MaxSectionText = 3000
	// MaxSectionFieldText and MaxSectionFields bound a section's fields.
	MaxSectionFieldText = 2000
	MaxSectionFields    = 10
	// MaxHeaderText is the longest text of a header block.
	MaxHeaderText = 150
	// MaxContextElements is the most elements a context block may have.
	MaxContextElements = 10
	// MaxActionsElements is the most elements an actions block may have.
	MaxActionsElements = 25
	// MaxButtonText, MaxActionID and MaxButtonValue bound a button.
	MaxButtonText  = 75
	MaxActionID    = 255
	MaxButtonValue = 2000
	// MaxBlockID is the longest block_id.
	MaxBlockID = 255
	// MaxBlocksJSON is the most characters the blocks argument may have in
	// all; more is msg_blocks_too_long.
	MaxBlocksJSON = 13000
	// MaxText is where message text is cut.
	MaxText = 40000
)

// blockError is a rejected blocks argument: the Slack error code and what is
// wrong, in Slack's "[ERROR] ... [json-pointer:...]" style.
type blockError struct {
	code   string
	detail string
}

func invalid(pointer, format string, args ...any) *blockError {
	return &blockError{
		code:   "invalid_blocks",
		detail: fmt.Sprintf("[ERROR] %s [json-pointer:%s]", fmt.Sprintf(format, args...), pointer),
	}
}

// validateBlocks checks a blocks argument ("" means none).
func validateBlocks(raw string) *blockError {
	if raw == "" {
		return nil
	}
	var blocks []json.RawMessage
	if err := json.Unmarshal([]byte(raw), &blocks); err != nil {
		return &blockError{code: "invalid_blocks_format", detail: "[ERROR] blocks is not a JSON array: " + err.Error()}
	}
	if len(blocks) > MaxBlocks {
		return invalid("/blocks", "no more than %d items allowed (got %d)", MaxBlocks, len(blocks))
	}
	for i, b := range blocks {
		if e := validateBlock(fmt.Sprintf("/blocks/%d", i), b); e != nil {
			return e
		}
	}
	if n := utf8.RuneCountInString(raw); n > MaxBlocksJSON {
		return &blockError{
			code:   "msg_blocks_too_long",
			detail: fmt.Sprintf("[ERROR] blocks are %d characters, more than %d", n, MaxBlocksJSON),
		}
	}
	return nil
}

// block is the part of a block the limits look at.
type block struct {
	Type     *string           `json:"type"`
	BlockID  string            `json:"block_id"`
	Text     *textObject       `json:"text"`
	Fields   []textObject      `json:"fields"`
	Elements []json.RawMessage `json:"elements"`
}

type textObject struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

type element struct {
	Type     string      `json:"type"`
	Text     *textObject `json:"text"`
	ActionID string      `json:"action_id"`
	Value    string      `json:"value"`
}

func validateBlock(ptr string, raw json.RawMessage) *blockError {
	var b block
	if err := json.Unmarshal(raw, &b); err != nil {
		return invalid(ptr, "block is not an object of the right shape: %v", err)
	}
	if b.Type == nil || *b.Type == "" {
		return invalid(ptr, "missing required field: type")
	}
	if utf8.RuneCountInString(b.BlockID) > MaxBlockID {
		return invalid(ptr+"/block_id", "must be less than %d characters", MaxBlockID+1)
	}
	switch *b.Type {
	case "section":
		return validateSection(ptr, b)
	case "header":
		if b.Text == nil {
			return invalid(ptr, "missing required field: text")
		}
		if b.Text.Type != "plain_text" {
			return invalid(ptr+"/text/type", "must be plain_text")
		}
		return validateText(ptr+"/text", *b.Text, MaxHeaderText)
	case "context":
		if len(b.Elements) == 0 {
			return invalid(ptr+"/elements", "must provide at least 1 item")
		}
		if len(b.Elements) > MaxContextElements {
			return invalid(ptr+"/elements", "no more than %d items allowed", MaxContextElements)
		}
	case "actions":
		return validateActions(ptr, b)
	}
	return nil
}

func validateSection(ptr string, b block) *blockError {
	if b.Text == nil && len(b.Fields) == 0 {
		return invalid(ptr, "must provide text or fields")
	}
	if b.Text != nil {
		if e := validateText(ptr+"/text", *b.Text, MaxSectionText); e != nil {
			return e
		}
	}
	if len(b.Fields) > MaxSectionFields {
		return invalid(ptr+"/fields", "no more than %d items allowed", MaxSectionFields)
	}
	for i, f := range b.Fields {
		if e := validateText(fmt.Sprintf("%s/fields/%d", ptr, i), f, MaxSectionFieldText); e != nil {
			return e
		}
	}
	return nil
}

func validateActions(ptr string, b block) *blockError {
	if len(b.Elements) == 0 {
		return invalid(ptr+"/elements", "must provide at least 1 item")
	}
	if len(b.Elements) > MaxActionsElements {
		return invalid(ptr+"/elements", "no more than %d items allowed", MaxActionsElements)
	}
	seen := map[string]bool{}
	for i, raw := range b.Elements {
		p := fmt.Sprintf("%s/elements/%d", ptr, i)
		var el element
		if err := json.Unmarshal(raw, &el); err != nil {
			return invalid(p, "element is not an object of the right shape: %v", err)
		}
		if el.ActionID != "" {
			if seen[el.ActionID] {
				return invalid(p+"/action_id", "action_id %q is used twice in the block", el.ActionID)
			}
			seen[el.ActionID] = true
		}
		if utf8.RuneCountInString(el.ActionID) > MaxActionID {
			return invalid(p+"/action_id", "must be less than %d characters", MaxActionID+1)
		}
		if el.Type != "button" {
			continue
		}
		if el.Text == nil {
			return invalid(p, "missing required field: text")
		}
		if e := validateText(p+"/text", *el.Text, MaxButtonText); e != nil {
			return e
		}
		if utf8.RuneCountInString(el.Value) > MaxButtonValue {
			return invalid(p+"/value", "must be less than %d characters", MaxButtonValue+1)
		}
	}
	return nil
}

func validateText(ptr string, t textObject, max int) *blockError {
	if t.Type != "plain_text" && t.Type != "mrkdwn" {
		return invalid(ptr+"/type", "must be plain_text or mrkdwn (got %q)", t.Type)
	}
	n := utf8.RuneCountInString(t.Text)
	if n == 0 {
		return invalid(ptr+"/text", "must be more than 0 characters")
	}
	if n > max {
		return invalid(ptr+"/text", "must be less than %d characters", max+1)
	}
	return nil
}

// truncateText cuts message text at MaxText characters, as Slack does.
func truncateText(s string) string {
	if utf8.RuneCountInString(s) <= MaxText {
		return s
	}
	n := 0
	for i := range s {
		if n == MaxText {
			return s[:i]
		}
		n++
	}
	return s
}
