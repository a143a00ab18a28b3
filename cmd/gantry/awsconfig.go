package main

import (
	"context"
	"errors"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
)

// loadAWS loads the AWS SDK's own configuration chain (AWS_REGION,
// credentials, AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_<SERVICE>, shared
// files, the task role) for the clients of a gantry process. Every failed
// request they send is counted in /metrics as
// gantry_external_call_errors_total{service="aws",call="ECS.RunTask"}:
// each try, so throttling that the SDK's retries ride out still shows.
// A request cut short because gantry is stopping is not a failure of AWS.
func (m *Main) loadAWS(ctx context.Context) (aws.Config, error) {
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return cfg, err
	}
	count := middleware.FinalizeMiddlewareFunc("GantryCallErrors", func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
		out, md, err := next.HandleFinalize(ctx, in)
		if err != nil && ctx.Err() == nil {
			call := awsmiddleware.GetServiceID(ctx) + "." + awsmiddleware.GetOperationName(ctx)
			var ae smithy.APIError
			if !errors.As(err, &ae) || !expectedAWSErrors[call+" "+ae.ErrorCode()] {
				m.metrics.Load().CallError("aws", call)
			}
		}
		return out, md, err
	})
	// The options run after the operation's own middleware, so this sits
	// inside the retry loop and sees every try.
	cfg.APIOptions = append(cfg.APIOptions, func(s *middleware.Stack) error {
		return s.Finalize.Add(count, middleware.After)
	})
	return cfg, nil
}

// expectedAWSErrors are answers that every job gets and gantry expects,
// not failures: a job's log stream does not exist until its task runs,
// and a task definition family is unknown until its first job.
var expectedAWSErrors = map[string]bool{
	"CloudWatch Logs.GetLogEvents ResourceNotFoundException": true,
	"ECS.DescribeTaskDefinition ClientException":             true,
}
