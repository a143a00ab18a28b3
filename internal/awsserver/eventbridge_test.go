package awsserver_test

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge/types"

	"github.com/gantry-ci/gantry/internal/awsserver"
)

func entry(detail string) types.PutEventsRequestEntry {
	return types.PutEventsRequestEntry{
		Source: aws.String("gantry"), DetailType: aws.String("gantry build succeeded"), Detail: aws.String(detail),
		EventBusName: aws.String("ci"), Time: aws.Time(time.Unix(1_700_000_000, 0)),
	}
}

func TestPutEvents(t *testing.T) {
	t.Parallel()
	srv := awsserver.New(t)
	eb := eventbridge.NewFromConfig(srv.AWSConfig())
	out, err := eb.PutEvents(ctx(t), &eventbridge.PutEventsInput{Entries: []types.PutEventsRequestEntry{entry(`{"job":1}`), entry(`{"job":2}`)}})
	if err != nil {
		t.Fatal(err)
	}
	if out.FailedEntryCount != 0 || len(out.Entries) != 2 || aws.ToString(out.Entries[0].EventId) == "" {
		t.Fatalf("reply %+v", out)
	}
	got := srv.EventBridgeEntries()
	if len(got) != 2 || got[0].Source != "gantry" || got[0].DetailType != "gantry build succeeded" || got[0].Detail != `{"job":1}` ||
		got[0].Bus != "ci" || !got[0].Time.Equal(time.Unix(1_700_000_000, 0)) || got[1].Detail != `{"job":2}` {
		t.Fatalf("entries %+v", got)
	}
	if n := srv.Count("PutEvents"); n != 1 {
		t.Errorf("%d PutEvents calls", n)
	}
}

func TestPutEventsPartialFailure(t *testing.T) {
	t.Parallel()
	srv := awsserver.New(t)
	eb := eventbridge.NewFromConfig(srv.AWSConfig())
	srv.FailEntries(awsserver.EntryFailure{}, awsserver.EntryFailure{Code: "InternalFailure", Message: "try again"})
	out, err := eb.PutEvents(ctx(t), &eventbridge.PutEventsInput{Entries: []types.PutEventsRequestEntry{entry(`{"a":1}`), entry(`{"b":2}`), entry(`not json`)}})
	if err != nil {
		t.Fatal(err)
	}
	// An EntryFailure without a code lets its entry through.
	if out.FailedEntryCount != 2 || out.Entries[0].ErrorCode != nil || aws.ToString(out.Entries[1].ErrorCode) != "InternalFailure" ||
		aws.ToString(out.Entries[2].ErrorCode) != "MalformedDetail" {
		t.Fatalf("reply %+v", out)
	}
	if got := srv.EventBridgeEntries(); len(got) != 1 || got[0].Detail != `{"a":1}` {
		t.Fatalf("entries %+v", got)
	}
}

func TestPutEventsThroughTheDefaultChain(t *testing.T) {
	srv := awsserver.New(t)
	srv.SetEnv()
	cfg, err := config.LoadDefaultConfig(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	srv.FailNext("PutEvents", 1, awsserver.ServerError())
	if _, err := eventbridge.NewFromConfig(cfg).PutEvents(ctx(t), &eventbridge.PutEventsInput{Entries: []types.PutEventsRequestEntry{entry(`{}`)}}); err != nil {
		t.Fatal(err)
	}
	if n := srv.Count("PutEvents"); n != 2 {
		t.Errorf("%d PutEvents calls: the SDK should have retried the 500 once", n)
	}
}
