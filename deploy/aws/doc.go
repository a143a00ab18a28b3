// Package awsdeploy holds gantry's AWS deployment template, gantry.yml in
// this directory (CloudFormation), and the test that reads it: every
// reference resolves, every parameter is used, no IAM statement allows
// everything, and the task definitions run real gantry subcommands with
// the settings and roles the README and the template name. It has no Go
// code of its own; docs/aws.md says how to deploy the template.
package awsdeploy
