package browser

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Screenshot writes a PNG of the page's viewport to path.
func (b *Browser) Screenshot(path string) error {
	res, err := b.call("Page.captureScreenshot", map[string]any{"format": "png"})
	if err != nil {
		return err
	}
	var r struct {
		Data string `json:"data"`
	}
	if err := json.Unmarshal(res, &r); err != nil {
		return err
	}
	png, err := base64.StdEncoding.DecodeString(r.Data)
	if err != nil {
		return err
	}
	return os.WriteFile(path, png, 0o644)
}

// screenshotOnFailure registers, for a test that fails, a screenshot of
// the page as it was then in the test's artifact directory (a temporary
// directory, kept when go test runs with -artifacts).
func (b *Browser) screenshotOnFailure() {
	dir := b.t.ArtifactDir()
	b.t.Cleanup(func() {
		if !b.t.Failed() || b.conn == nil {
			return
		}
		name := strings.NewReplacer("/", "_", " ", "_").Replace(b.t.Name()) + ".png"
		path := filepath.Join(dir, name)
		if err := b.Screenshot(path); err != nil {
			b.t.Logf("no screenshot of the page: %v", err)
			return
		}
		b.t.Logf("the page when the test failed: %s", path)
	})
}

// WaitTrue waits until the JavaScript expression expr is true in the page.
func (b *Browser) WaitTrue(expr string, within time.Duration) {
	b.t.Helper()
	deadline := time.Now().Add(within)
	for {
		v, err := b.Eval(expr)
		if err == nil && v == "true" {
			return
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("%s never became true (last: %s, %v); the page shows:\n%s", expr, v, err, b.Text())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Click clicks the middle of the first element selector matches with the
// mouse, as a person would, after scrolling it into view.
func (b *Browser) Click(selector string) {
	b.t.Helper()
	q, _ := json.Marshal(selector)
	v, err := b.Eval(fmt.Sprintf(`(function () {
		var el = document.querySelector(%s);
		if (!el) { return null; }
		el.scrollIntoView({block: 'center'});
		var r = el.getBoundingClientRect();
		return [r.left + r.width / 2, r.top + r.height / 2];
	})()`, q))
	if err != nil {
		b.t.Fatal(err)
	}
	var at []float64
	if err := json.Unmarshal([]byte(v), &at); err != nil || len(at) != 2 {
		b.t.Fatalf("no element %s to click; the page shows:\n%s", selector, b.Text())
	}
	for _, typ := range []string{"mousePressed", "mouseReleased"} {
		if _, err := b.call("Input.dispatchMouseEvent", map[string]any{
			"type": typ, "x": at[0], "y": at[1], "button": "left", "clickCount": 1,
		}); err != nil {
			b.t.Fatal(err)
		}
	}
}

// Type focuses the first element selector matches and types text into
// it, as a keyboard would: the page sees input events.
func (b *Browser) Type(selector, text string) {
	b.t.Helper()
	q, _ := json.Marshal(selector)
	if v, err := b.Eval(fmt.Sprintf(`(function () { var el = document.querySelector(%s); if (!el) { return false; } el.focus(); return true; })()`, q)); err != nil || v != "true" {
		b.t.Fatalf("no element %s to type into (%v); the page shows:\n%s", selector, err, b.Text())
	}
	if _, err := b.call("Input.insertText", map[string]any{"text": text}); err != nil {
		b.t.Fatal(err)
	}
}
