package awsserver

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
)

// The stores behind Secrets Manager GetSecretValue and SSM Parameter Store
// GetParameter: what gantry reads with its own role to learn the values
// it must redact, and what RunLocally resolves container secrets from.

// secretEntry is one Secrets Manager secret, at its current version.
type secretEntry struct {
	name, arn string
	value     string
	binary    []byte // set instead of value for a binary secret
	versionID string
	created   time.Time
}

// paramEntry is one SSM parameter, at its latest version.
type paramEntry struct {
	name, arn string // name as SSM writes it: "/gantry/token" or "token"
	value     string
	typ       string // String, StringList or SecureString
	version   int64
	modified  time.Time
}

// PutSecret stores a Secrets Manager secret with a string value (a new
// version if the name exists) and returns its ARN, which ends in the six
// random characters Secrets Manager adds to the name. GetSecretValue finds
// it by that ARN, by the ARN without the suffix, or by name.
func (s *Server) PutSecret(name, value string) string {
	return s.putSecret(name, value, nil)
}

// PutBinarySecret stores a Secrets Manager secret with a binary value.
func (s *Server) PutBinarySecret(name string, value []byte) string {
	return s.putSecret(name, "", append([]byte(nil), value...))
}

func (s *Server) putSecret(name, value string, binary []byte) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.secrets == nil {
		s.secrets = map[string]*secretEntry{}
	}
	e := s.secrets[name]
	if e == nil {
		e = &secretEntry{name: name, arn: fmt.Sprintf("arn:aws:secretsmanager:%s:%s:secret:%s-%s", s.region, AccountID, name, randomSuffix())}
		s.secrets[name] = e
	}
	e.value, e.binary, e.versionID, e.created = value, binary, newUUID(), s.now()
	return e.arn
}

// PutParameter stores an SSM parameter (a SecureString when secure, else
// a String), as a new version if the name exists, and returns its ARN.
// GetParameter finds it by name or ARN.
func (s *Server) PutParameter(name, value string, secure bool) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.params == nil {
		s.params = map[string]*paramEntry{}
	}
	e := s.params[name]
	if e == nil {
		e = &paramEntry{name: name, arn: fmt.Sprintf("arn:aws:ssm:%s:%s:parameter/%s", s.region, AccountID, strings.TrimPrefix(name, "/"))}
		s.params[name] = e
	}
	e.typ = "String"
	if secure {
		e.typ = "SecureString"
	}
	e.value, e.modified = value, s.now()
	e.version++
	return e.arn
}

// randomSuffix is the "-AbCdEf" part of a secret's ARN, without the dash.
func randomSuffix() string {
	const letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	b := []byte(newHexID(3))
	for i := range b {
		b[i] = letters[int(b[i])%len(letters)]
	}
	return string(b)
}

// findSecret resolves a SecretId: a full ARN, an ARN without the random
// suffix, or a name.
func (s *Server) findSecret(id string) *secretEntry {
	for _, e := range s.secrets {
		if id == e.arn || id == e.name || id == strings.TrimSuffix(e.arn, e.arn[len(e.arn)-7:]) {
			return e
		}
	}
	return nil
}

// findParameter resolves a parameter name or ARN.
func (s *Server) findParameter(name string) *paramEntry {
	for _, e := range s.params {
		if name == e.name || name == e.arn {
			return e
		}
	}
	return nil
}

// secretValue is what ECS would inject for a container secret's valueFrom
// (a secret or parameter ARN, or a parameter name), and whether it knows it.
func (s *Server) secretValue(valueFrom string) (string, bool) {
	if e := s.findSecret(valueFrom); e != nil {
		if e.binary != nil {
			return string(e.binary), true
		}
		return e.value, true
	}
	if e := s.findParameter(valueFrom); e != nil {
		return e.value, true
	}
	return "", false
}

func (s *Server) getSecretValue(req request) (any, *apiError) {
	var in secretsmanager.GetSecretValueInput
	if e := decodeBody(req.body, &in); e != nil {
		return nil, e
	}
	id := deref(in.SecretId)
	if id == "" {
		return nil, errorf(http.StatusBadRequest, "InvalidParameterException", "You must provide a SecretId.")
	}
	e := s.findSecret(id)
	if e == nil {
		return nil, errorf(http.StatusBadRequest, "ResourceNotFoundException", "Secrets Manager can't find the specified secret.")
	}
	if st := deref(in.VersionStage); st != "" && st != "AWSCURRENT" {
		return nil, errorf(http.StatusBadRequest, "ResourceNotFoundException", "Secrets Manager can't find the specified secret value for staging label: %s", st)
	}
	out := map[string]any{
		"ARN": e.arn, "Name": e.name, "VersionId": e.versionID,
		"VersionStages": []string{"AWSCURRENT"}, "CreatedDate": epochSeconds(e.created),
	}
	if e.binary != nil {
		out["SecretBinary"] = e.binary // encoding/json writes []byte as base64, as the protocol wants
	} else {
		out["SecretString"] = e.value
	}
	return out, nil
}

func (s *Server) getParameter(req request) (any, *apiError) {
	var in ssm.GetParameterInput
	if e := decodeBody(req.body, &in); e != nil {
		return nil, e
	}
	e := s.findParameter(deref(in.Name))
	if e == nil {
		return nil, errorf(http.StatusBadRequest, "ParameterNotFound", "Parameter %s not found.", deref(in.Name))
	}
	value := e.value
	if e.typ == "SecureString" && !deref(in.WithDecryption) {
		value = ciphertext(e.value)
	}
	return map[string]any{"Parameter": map[string]any{
		"Name": e.name, "ARN": e.arn, "Type": e.typ, "Value": value, "Version": e.version,
		"LastModifiedDate": epochSeconds(e.modified), "DataType": "text",
	}}, nil
}

// ciphertext stands for the KMS-encrypted form SSM returns for a
// SecureString read without decryption: opaque, and not an encoding of
// the value.
func ciphertext(value string) string {
	sum := sha256.Sum256([]byte("awsserver-kms:" + value))
	return "AQICAHg" + hex.EncodeToString(sum[:])
}
