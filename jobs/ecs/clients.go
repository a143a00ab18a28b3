package ecs

import (
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	awsecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
)

// Clients are the AWS clients the runner, the protector, the publisher
// and the secret reader use.
type Clients struct {
	ECS            *awsecs.Client
	Logs           *cloudwatchlogs.Client
	CloudWatch     *cloudwatch.Client
	SecretsManager *secretsmanager.Client
	SSM            *ssm.Client
}

// RetryOptions tune the SDK's standard retryer, which retries throttling,
// 5xx and connection errors itself. Zero values are the defaults.
type RetryOptions struct {
	MaxAttempts int           // tries of one call; 0 is 6
	MaxBackoff  time.Duration // longest wait between tries; 0 is the SDK's 20s
}

// NewClients makes the clients from cfg (config.LoadDefaultConfig: the
// SDK's own chain of region, credentials and AWS_ENDPOINT_URL*).
func NewClients(cfg aws.Config, o RetryOptions) Clients {
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 6
	}
	cfg.Retryer = func() aws.Retryer {
		return retry.NewStandard(func(so *retry.StandardOptions) {
			so.MaxAttempts = o.MaxAttempts
			if o.MaxBackoff > 0 {
				so.MaxBackoff = o.MaxBackoff
			}
		})
	}
	cfg.RetryMaxAttempts = 0 // the retryer above decides
	return Clients{
		ECS:            awsecs.NewFromConfig(cfg),
		Logs:           cloudwatchlogs.NewFromConfig(cfg),
		CloudWatch:     cloudwatch.NewFromConfig(cfg),
		SecretsManager: secretsmanager.NewFromConfig(cfg),
		SSM:            ssm.NewFromConfig(cfg),
	}
}
