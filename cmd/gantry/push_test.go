package main

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gantry-ci/gantry/internal/githubserver"
)

// pushSpec deploys staging on every push to main, and production too, with
// approval; both wait for the gate files as helloSpec's steps do.
const pushSpec = `pipelines:
  branch:
    steps:
      - echo "branch build of $GANTRY_REF at $GANTRY_SHA"
      - while [ ! -e %[1]s/build ]; do sleep 0.05; done; test ! -e %[1]s/fail
deploy:
  staging:
    on_push: true
    steps:
      - echo "deployed $GANTRY_SHA to staging"
  production:
    branch: main
    steps:
      - echo "deployed $GANTRY_SHA to production"
`

const pushServerConfig = `repos:
  hello: {github: acme/hello, channel: C0HELLO}
environments:
  staging: {deployers: ["*"]}
  production: {deployers: ["*"], approvers: ["*"], approval: true, on_push: true}
`

// TestSignedPushToMainBuildsThenDeploys: a signed push to main runs the
// branch build and then, once it succeeded, the deploys whose stage or
// environment says on_push: staging at once, production after an
// approval. A push whose build fails deploys nothing.
func TestSignedPushToMainBuildsThenDeploys(t *testing.T) {
	g := newGitHubServer(t)
	sha := g.commit(map[string]string{".gantry.yml": fmt.Sprintf(pushSpec, g.gate)}, "deploy on push")
	s := g.consoleWith(t, "", pushServerConfig)

	if code, body := s.hook(hookSecret, "push", "delivery-push-1", githubserver.PushPayload(g.PushFor("acme/hello", "main"))); code != http.StatusAccepted {
		t.Fatalf("the push answered %d %q, want 202", code, body)
	}
	s.waitFor(`#1 +┃ #1 build hello@main \(`+sha[:7]+`\) by GitHub: queued`, 10*time.Second)
	// production sorts first: #2 is production, #3 staging.
	s.waitFor(`#2 +┃ #2 deploy to production hello@main \(`+sha[:7]+`\) by GitHub: awaiting_approval`, 10*time.Second)
	s.waitFor(`#3 +┃ .*waiting for build #1 to succeed`, 10*time.Second)
	if out := s.out.String(); strings.Contains(out, "deployed "+sha) {
		t.Fatalf("a deploy ran before its build ended:\n%s", out)
	}

	// A newer push before the first build ends supersedes its deploys.
	sha2 := g.commit(map[string]string{"README": "newer\n"}, "newer")
	if code, body := s.hook(hookSecret, "push", "delivery-push-2", githubserver.PushPayload(g.PushFor("acme/hello", "main"))); code != http.StatusAccepted {
		t.Fatalf("the second push answered %d %q, want 202", code, body)
	}
	s.waitFor(`#2 +┃ .*cancelled by a newer push to main \(build #4\)`, 10*time.Second)
	s.waitFor(`#3 +┃ .*cancelled by a newer push to main \(build #4\)`, 10*time.Second)
	s.waitFor(`#6 +┃ .*waiting for build #4 to succeed`, 10*time.Second)

	g.open("build")
	s.waitFor(`#4 +┃ ✅ #4 succeeded`, 15*time.Second)
	s.waitFor(`#6 +│ deployed `+sha2+` to staging`, 15*time.Second)
	s.waitFor(`#6 +│ ── build #4 of `+sha2[:7]+` succeeded`, 5*time.Second)
	if strings.Contains(s.out.String(), "to production\n") || strings.Contains(s.out.String(), "deployed "+sha+" ") {
		t.Fatalf("production deployed without an approval, or a superseded deploy ran:\n%s", s.out.String())
	}
	s.typeLine("approve #5")
	s.waitFor(`#5 +│ deployed `+sha2+` to production`, 15*time.Second)

	// The next push's build fails: its deploys end cancelled, saying why.
	g.open("fail")
	next := g.commit(map[string]string{"README": "three\n"}, "third")
	if code, body := s.hook(hookSecret, "push", "delivery-push-3", githubserver.PushPayload(g.PushFor("acme/hello", "main"))); code != http.StatusAccepted {
		t.Fatalf("the third push answered %d %q, want 202", code, body)
	}
	s.waitFor(`#7 +┃ .*#7 failed`, 15*time.Second)
	s.waitFor(`#9 +┃ .*cancelled: build #7, which it follows, failed`, 15*time.Second)
	// The production deploy awaiting approval ends too, unapproved.
	s.waitFor(`#8 +┃ .*cancelled: build #7, which it follows, failed`, 15*time.Second)
	if strings.Contains(s.out.String(), "deployed "+next) {
		t.Errorf("a deploy of a push whose build failed ran:\n%s", s.out.String())
	}
}
