package slackserver

import (
	"encoding/json"
	"strings"
)

// Button is a button in a message's blocks.
type Button struct {
	BlockID  string
	ActionID string
	Text     string
	Value    string
	Style    string
	URL      string
}

// Buttons returns the buttons in the message's actions (and section
// accessory) blocks, in order. A message whose buttons were removed by an
// update has none.
func (m Message) Buttons() []Button { return buttonsIn(m.Blocks) }

// Buttons returns the buttons in the ephemeral message's blocks.
func (e Ephemeral) Buttons() []Button { return buttonsIn(e.Blocks) }

// VisibleText is what a person reads: the text of every block (section text
// and fields, headers, context, rich text, button labels), one line each,
// or the message text when there are no blocks.
func (m Message) VisibleText() string { return visibleText(m.Text, m.Blocks) }

// VisibleText is what the person reads of the ephemeral message.
func (e Ephemeral) VisibleText() string { return visibleText(e.Text, e.Blocks) }

type anyBlock struct {
	Type      string            `json:"type"`
	BlockID   string            `json:"block_id"`
	Text      *textObject       `json:"text"`
	Fields    []textObject      `json:"fields"`
	Elements  []json.RawMessage `json:"elements"`
	Accessory json.RawMessage   `json:"accessory"`
}

type anyElement struct {
	Type     string            `json:"type"`
	Text     json.RawMessage   `json:"text"`
	ActionID string            `json:"action_id"`
	Value    string            `json:"value"`
	Style    string            `json:"style"`
	URL      string            `json:"url"`
	Elements []json.RawMessage `json:"elements"`
}

func parseBlocks(raw string) []anyBlock {
	if raw == "" {
		return nil
	}
	var blocks []anyBlock
	if err := json.Unmarshal([]byte(raw), &blocks); err != nil {
		return nil
	}
	return blocks
}

func buttonsIn(raw string) []Button {
	var out []Button
	add := func(blockID string, rawEl json.RawMessage) {
		var el anyElement
		if json.Unmarshal(rawEl, &el) != nil || el.Type != "button" {
			return
		}
		out = append(out, Button{
			BlockID:  blockID,
			ActionID: el.ActionID,
			Text:     elementText(el.Text),
			Value:    el.Value,
			Style:    el.Style,
			URL:      el.URL,
		})
	}
	for _, b := range parseBlocks(raw) {
		if len(b.Accessory) > 0 {
			add(b.BlockID, b.Accessory)
		}
		if b.Type == "actions" {
			for _, el := range b.Elements {
				add(b.BlockID, el)
			}
		}
	}
	return out
}

// elementText reads the text of an element: a text object or, in rich text,
// a plain string.
func elementText(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var t textObject
	if json.Unmarshal(raw, &t) == nil {
		return t.Text
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return ""
}

func visibleText(text, blocks string) string {
	parsed := parseBlocks(blocks)
	if len(parsed) == 0 {
		return text
	}
	var lines []string
	for _, b := range parsed {
		var parts []string
		if b.Text != nil {
			parts = append(parts, b.Text.Text)
		}
		for _, f := range b.Fields {
			parts = append(parts, f.Text)
		}
		parts = append(parts, elementTexts(b.Elements)...)
		if len(b.Accessory) > 0 {
			parts = append(parts, elementTexts([]json.RawMessage{b.Accessory})...)
		}
		if len(parts) > 0 {
			lines = append(lines, strings.Join(parts, " "))
		}
	}
	return strings.Join(lines, "\n")
}

// elementTexts collects the texts of elements, descending into rich text.
func elementTexts(elements []json.RawMessage) []string {
	var out []string
	for _, raw := range elements {
		var el anyElement
		if json.Unmarshal(raw, &el) != nil {
			continue
		}
		if t := elementText(el.Text); t != "" {
			out = append(out, t)
		}
		if len(el.Elements) > 0 {
			if inner := elementTexts(el.Elements); len(inner) > 0 {
				out = append(out, strings.Join(inner, ""))
			}
		}
	}
	return out
}
