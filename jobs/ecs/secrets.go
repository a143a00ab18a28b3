package ecs

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/gantry-ci/gantry/jobs"
	"github.com/gantry-ci/gantry/spec"

	"github.com/gantry-ci/gantry/say"
)

// A job's secrets reach its task as container secrets: the definition
// names each ARN and ECS's execution role fetches the value, so starting
// a task never carries one. gantry must still hide the values in the
// job's log, so it reads them itself (SecretReader, with gantry's own
// role) and hands them to the redactor before the task starts.

// SecretsManagerAPI is what the secret reader calls of Secrets Manager.
type SecretsManagerAPI interface {
	GetSecretValue(context.Context, *secretsmanager.GetSecretValueInput, ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

// SSMAPI is what the secret reader calls of SSM Parameter Store.
type SSMAPI interface {
	GetParameter(context.Context, *ssm.GetParameterInput, ...func(*ssm.Options)) (*ssm.GetParameterOutput, error)
}

// SecretLearner makes the values of secrets known to whatever redacts job
// logs. The runner calls it before a job's task starts.
type SecretLearner interface {
	Learn(ctx context.Context, secrets ...spec.Secret) error
}

// DefaultSecretTTL is how long a value read is trusted before it is read
// again (a rotated secret then becomes known too).
const DefaultSecretTTL = 5 * time.Minute

// SecretReaderConfig configures a SecretReader. Zero values are the
// defaults.
type SecretReaderConfig struct {
	// Redact is told every value read, before Learn returns: the
	// redactor's Add. Values are never logged, stored or announced.
	Redact func(values ...string)
	TTL    time.Duration    // 0 is DefaultSecretTTL
	Now    func() time.Time // nil is time.Now
	Logger *slog.Logger
}

// SecretReader reads the values of Secrets Manager secrets and SSM
// parameters with gantry's own credentials and keeps them briefly.
// It implements SecretLearner.
type SecretReader struct {
	sm  SecretsManagerAPI
	ssm SSMAPI
	cfg SecretReaderConfig

	mu    sync.Mutex
	cache map[string]cachedSecret // by ARN
	told  map[string]bool         // values already handed to Redact
}

type cachedSecret struct {
	value string
	read  time.Time
}

// NewSecretReader returns a reader that calls sm and ps.
func NewSecretReader(sm SecretsManagerAPI, ps SSMAPI, cfg SecretReaderConfig) *SecretReader {
	cfg.TTL = cmp.Or(cfg.TTL, DefaultSecretTTL)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Redact == nil {
		cfg.Redact = func(...string) {}
	}
	return &SecretReader{sm: sm, ssm: ps, cfg: cfg, cache: map[string]cachedSecret{}, told: map[string]bool{}}
}

// Learn reads the value of each ARN secret (from the cache while it is
// fresh) and hands the values to Redact. A secret that cannot be read is
// an error naming it: a job whose secret gantry cannot hide must not
// start. A stale value that cannot be read again is kept, with a warning.
func (r *SecretReader) Learn(ctx context.Context, secrets ...spec.Secret) error {
	var values []string
	for _, s := range secrets {
		if !s.IsARN() {
			continue
		}
		v, err := r.value(ctx, s)
		if err != nil {
			return err
		}
		values = append(values, redactForms(v)...)
	}
	r.tell(values)
	return nil
}

// value is the secret's value, read again once the cached one is older
// than the TTL.
func (r *SecretReader) value(ctx context.Context, s spec.Secret) (string, error) {
	r.mu.Lock()
	c, ok := r.cache[s.Source]
	r.mu.Unlock()
	if ok && r.cfg.Now().Sub(c.read) < r.cfg.TTL {
		return c.value, nil
	}
	v, err := r.read(ctx, s.Source)
	if err != nil {
		if ok {
			r.cfg.Logger.Warn("read secret again to redact it; keeping the value read before", "secret", s.Name, "arn", s.Source, "err", err)
			return c.value, nil
		}
		return "", secretError(s, err)
	}
	r.mu.Lock()
	r.cache[s.Source] = cachedSecret{value: v, read: r.cfg.Now()}
	r.mu.Unlock()
	return v, nil
}

// read calls Secrets Manager or SSM, in the region the ARN names.
func (r *SecretReader) read(ctx context.Context, arn string) (string, error) {
	region := arnPart(arn, 3)
	if arnPart(arn, 2) == "ssm" {
		out, err := r.ssm.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(arn), WithDecryption: aws.Bool(true)},
			func(o *ssm.Options) { o.Region = cmp.Or(region, o.Region) })
		if err != nil {
			return "", err
		}
		if out.Parameter == nil {
			return "", fmt.Errorf("GetParameter returned no parameter")
		}
		return aws.ToString(out.Parameter.Value), nil
	}
	out, err := r.sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(arn)},
		func(o *secretsmanager.Options) { o.Region = cmp.Or(region, o.Region) })
	if err != nil {
		return "", err
	}
	if out.SecretString != nil {
		return *out.SecretString, nil
	}
	return string(out.SecretBinary), nil
}

// tell hands Redact the values it has not been told yet.
func (r *SecretReader) tell(values []string) {
	r.mu.Lock()
	var fresh []string
	for _, v := range values {
		if v != "" && !r.told[v] {
			r.told[v] = true
			fresh = append(fresh, v)
		}
	}
	r.mu.Unlock()
	if len(fresh) > 0 {
		r.cfg.Redact(fresh...)
	}
}

// secretError says which secret could not be read. Denied or missing
// secrets will not mend by themselves: the job fails for good; anything
// else (throttling, an outage) is tried again.
func secretError(s spec.Secret, err error) error {
	msg := say.F("gantry cannot read secret %s (%s) to hide its value in the job's log: %s", s.Name, s.Source, apiMessage(err))
	if isCode(err, "AccessDeniedException", "AccessDenied", "ResourceNotFoundException", "ParameterNotFound",
		"InvalidParameterException", "ValidationException", "DecryptionFailure", "InvalidKeyId") {
		return jobs.Permanent(&jobs.UserError{Msg: msg, Err: err})
	}
	return &jobs.UserError{Msg: msg, Err: err}
}

// redactForms are the texts of a value to hide: the value, each of its
// lines when it has several (a key printed line by line), and the string
// members of a JSON object (a step may print one field of it).
func redactForms(v string) []string {
	out := []string{v}
	if strings.Contains(v, "\n") {
		for _, line := range strings.Split(v, "\n") {
			if l := strings.TrimSpace(line); l != "" && l != v {
				out = append(out, l)
			}
		}
	}
	var obj map[string]any
	if json.Unmarshal([]byte(v), &obj) == nil {
		for _, m := range obj {
			if s, ok := m.(string); ok && s != "" {
				out = append(out, s)
			}
		}
	}
	return out
}

// arnPart is part i of an ARN (2 the service, 3 the region), or "".
func arnPart(arn string, i int) string {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) < 6 || parts[0] != "arn" {
		return ""
	}
	return parts[i]
}

// jobSecrets are the secrets the job gets, all ARNs. A secret of any other
// source is refused: this runner cannot give a value to a task without it
// passing through gantry (start-up refuses such a config already).
func (r *Runner) jobSecrets(j *jobs.Job) ([]spec.Secret, error) {
	if r.cfg.Secrets == nil {
		return nil, nil
	}
	secrets := slices.SortedFunc(slices.Values(r.cfg.Secrets(j)), func(a, b spec.Secret) int { return strings.Compare(a.Name, b.Name) })
	for _, s := range secrets {
		if !s.IsARN() {
			return nil, jobs.Permanent(jobs.Userf("secret %s of %s comes from %q; the ecs runner takes only Secrets Manager or SSM parameter ARNs", s.Name, j.Name(), s.Source))
		}
	}
	return secrets, nil
}
