package awsserver_test

import (
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/google/go-cmp/cmp"

	"github.com/gantry-ci/gantry/internal/awsserver"
)

func TestPutMetricDataDecoded(t *testing.T) {
	t.Parallel()
	srv := awsserver.New(t)
	c := newClients(srv)
	at := time.Date(2026, 3, 1, 12, 30, 15, 0, time.UTC)
	_, err := c.cw.PutMetricData(ctx(t), &cloudwatch.PutMetricDataInput{
		Namespace: aws.String("Gantry"),
		MetricData: []cwtypes.MetricDatum{
			{
				MetricName: aws.String("JobDuration"),
				Dimensions: []cwtypes.Dimension{
					{Name: aws.String("Repo"), Value: aws.String("hello")},
					{Name: aws.String("Outcome"), Value: aws.String("succeeded")},
				},
				Value:     aws.Float64(42.5),
				Unit:      cwtypes.StandardUnitSeconds,
				Timestamp: aws.Time(at),
			},
			{MetricName: aws.String("QueueDepth"), Value: aws.Float64(0)},
			{MetricName: aws.String("StepSeconds"), Values: []float64{1, 2.5}, Counts: []float64{3, 1}},
			{MetricName: aws.String("Polls"), StatisticValues: &cwtypes.StatisticSet{SampleCount: aws.Float64(4), Sum: aws.Float64(10), Minimum: aws.Float64(1), Maximum: aws.Float64(4)}, StorageResolution: aws.Int32(1)},
		},
	})
	if err != nil {
		t.Fatalf("PutMetricData: %v", err)
	}
	want := []awsserver.Metric{
		{Namespace: "Gantry", Name: "JobDuration", Dimensions: map[string]string{"Repo": "hello", "Outcome": "succeeded"}, Value: 42.5, Unit: "Seconds", Timestamp: at},
		{Namespace: "Gantry", Name: "QueueDepth", Dimensions: map[string]string{}},
		{Namespace: "Gantry", Name: "StepSeconds", Dimensions: map[string]string{}, Values: []float64{1, 2.5}, Counts: []float64{3, 1}},
		{Namespace: "Gantry", Name: "Polls", Dimensions: map[string]string{}, StatisticValues: &awsserver.StatisticSet{SampleCount: 4, Sum: 10, Minimum: 1, Maximum: 4}, StorageResolution: 1},
	}
	if diff := cmp.Diff(want, srv.Metrics()); diff != "" {
		t.Errorf("metrics (-want +got):\n%s", diff)
	}

	calls := srv.Calls("PutMetricData")
	if len(calls) != 1 || calls[0].Service != awsserver.ServiceCloudWatch || calls[0].Input["Namespace"] != "Gantry" {
		t.Fatalf("recorded calls %+v", calls)
	}
	var in cloudwatch.PutMetricDataInput
	if err := calls[0].Decode(&in); err != nil {
		t.Fatal(err)
	}
	if len(in.MetricData) != 4 || !in.MetricData[0].Timestamp.Equal(at) {
		t.Errorf("decoded input %+v", in.MetricData)
	}
}

func TestPutMetricDataErrors(t *testing.T) {
	t.Parallel()
	srv := awsserver.New(t)
	c := newClients(srv)

	_, err := c.cw.PutMetricData(ctx(t), &cloudwatch.PutMetricDataInput{
		Namespace: aws.String("AWS/ECS"), MetricData: []cwtypes.MetricDatum{{MetricName: aws.String("x"), Value: aws.Float64(1)}},
	})
	var ipv *cwtypes.InvalidParameterValueException
	if !errors.As(err, &ipv) {
		t.Errorf("reserved namespace: %v, want InvalidParameterValueException", err)
	}

	// A 500 is retried by the SDK; the datum is recorded once.
	srv.FailNext("PutMetricData", 1, awsserver.Fault{Code: "InternalServiceFault", Message: "try again", Status: 500})
	_, err = c.cw.PutMetricData(ctx(t), &cloudwatch.PutMetricDataInput{
		Namespace: aws.String("Gantry"), MetricData: []cwtypes.MetricDatum{{MetricName: aws.String("x"), Value: aws.Float64(1)}},
	})
	if err != nil {
		t.Fatalf("PutMetricData after one 500: %v", err)
	}
	if n, m := srv.Count("PutMetricData"), len(srv.Metrics()); n != 3 || m != 1 {
		t.Errorf("%d requests and %d metrics, want 3 (one refused, one failed, one ok) and 1", n, m)
	}
}

func TestPutMetricDataCompressed(t *testing.T) {
	t.Parallel()
	srv := awsserver.New(t)
	c := newClients(srv)
	var data []cwtypes.MetricDatum
	for i := range 400 {
		data = append(data, cwtypes.MetricDatum{
			MetricName: aws.String("LogLines"),
			Dimensions: []cwtypes.Dimension{{Name: aws.String("Job"), Value: aws.String("job-" + string(rune('a'+i%26)))}},
			Value:      aws.Float64(float64(i)),
		})
	}
	// 400 data make a body over the 10 KiB at which the SDK gzips it.
	if _, err := c.cw.PutMetricData(ctx(t), &cloudwatch.PutMetricDataInput{Namespace: aws.String("Gantry"), MetricData: data}); err != nil {
		t.Fatalf("PutMetricData: %v", err)
	}
	got := srv.Metrics()
	if len(got) != 400 || got[399].Value != 399 || got[399].Dimensions["Job"] != "job-j" {
		t.Errorf("%d metrics decoded from the compressed body; last %+v", len(got), got[len(got)-1])
	}
}
