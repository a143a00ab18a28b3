package awsdeploy

// The checks the tests in template_test.go run: each returns what is wrong
// with the template, one line each, naming the place.

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// pseudoParameters are the names CloudFormation defines itself.
var pseudoParameters = map[string]bool{
	"AWS::AccountId": true, "AWS::NotificationARNs": true, "AWS::NoValue": true, "AWS::Partition": true,
	"AWS::Region": true, "AWS::StackId": true, "AWS::StackName": true, "AWS::URLSuffix": true,
}

// attributes are the Fn::GetAtt attributes of the resource types the
// template may use. A type missing here fails the test: add it with the
// attributes its CloudFormation reference lists.
var attributes = map[string][]string{
	"AWS::ApplicationAutoScaling::ScalableTarget": {"Id"},
	"AWS::ApplicationAutoScaling::ScalingPolicy":  {"Arn"},
	"AWS::CertificateManager::Certificate":        {},
	"AWS::CloudWatch::Alarm":                      {"Arn"},
	"AWS::EC2::SecurityGroup":                     {"GroupId", "VpcId"},
	"AWS::ECS::Cluster":                           {"Arn"},
	"AWS::ECS::Service":                           {"Name", "ServiceArn"},
	"AWS::ECS::TaskDefinition":                    {"TaskDefinitionArn"},
	"AWS::ElastiCache::ParameterGroup":            {"CacheParameterGroupName"},
	"AWS::ElastiCache::ReplicationGroup":          {"PrimaryEndPoint.Address", "PrimaryEndPoint.Port", "ReaderEndPoint.Address", "ReaderEndPoint.Port", "ConfigurationEndPoint.Address", "ConfigurationEndPoint.Port", "ReadEndPoint.Addresses", "ReadEndPoint.Ports"},
	"AWS::ElastiCache::SubnetGroup":               {},
	"AWS::ElasticLoadBalancingV2::Listener":       {"ListenerArn"},
	"AWS::ElasticLoadBalancingV2::ListenerRule":   {"RuleArn", "IsDefault"},
	"AWS::ElasticLoadBalancingV2::LoadBalancer":   {"CanonicalHostedZoneID", "DNSName", "LoadBalancerArn", "LoadBalancerFullName", "LoadBalancerName", "SecurityGroups"},
	"AWS::ElasticLoadBalancingV2::TargetGroup":    {"LoadBalancerArns", "TargetGroupArn", "TargetGroupFullName", "TargetGroupName"},
	"AWS::Events::Rule":                           {"Arn"},
	"AWS::IAM::Role":                              {"Arn", "RoleId"},
	"AWS::Logs::LogGroup":                         {"Arn"},
	"AWS::Route53::RecordSet":                     {},
	"AWS::S3::Bucket":                             {"Arn", "DomainName", "DualStackDomainName", "RegionalDomainName", "WebsiteURL"},
	"AWS::S3::BucketPolicy":                       {},
	"AWS::SecretsManager::Secret":                 {"Id"},
	"AWS::SNS::Subscription":                      {"Arn"},
	"AWS::SNS::Topic":                             {"TopicArn", "TopicName"},
	"AWS::SNS::TopicPolicy":                       {"Id"},
}

// reference is one use of a name: Ref, Fn::GetAtt, a ${} in Fn::Sub,
// DependsOn, or a condition name.
type reference struct {
	where string // a path in the template, for messages
	kind  string // "Ref", "GetAtt", "Sub", "DependsOn", "Condition"
	name  string
	attr  string // GetAtt (and ${R.A} in Sub)
}

var subVar = regexp.MustCompile(`\$\{([^}]*)\}`)

// references lists every reference in node; local names (Fn::Sub's own
// variables) are not references.
func references(node any, where string, local map[string]bool) []reference {
	var out []reference
	switch n := node.(type) {
	case map[string]any:
		if len(n) == 1 {
			for fn, arg := range n {
				switch fn {
				case "Ref":
					name, _ := arg.(string)
					return []reference{{where: where, kind: "Ref", name: name}}
				case "Fn::GetAtt":
					r := reference{where: where, kind: "GetAtt"}
					switch a := arg.(type) {
					case string:
						r.name, r.attr, _ = strings.Cut(a, ".")
					case []any:
						if len(a) == 2 {
							r.name, _ = a[0].(string)
							r.attr, _ = a[1].(string)
						}
					}
					return []reference{r}
				case "Fn::Sub":
					s, vars := arg, map[string]any(nil)
					if a, ok := arg.([]any); ok && len(a) == 2 {
						s = a[0]
						vars, _ = a[1].(map[string]any)
					}
					str, _ := s.(string)
					inner := map[string]bool{}
					for k, v := range local {
						inner[k] = v
					}
					for k, v := range vars {
						inner[k] = true
						out = append(out, references(v, where+".Fn::Sub."+k, local)...)
					}
					return append(out, subReferences(str, where, inner)...)
				case "Fn::If":
					if a, ok := arg.([]any); ok && len(a) == 3 {
						name, _ := a[0].(string)
						out = append(out, reference{where: where, kind: "Condition", name: name})
						out = append(out, references(a[1], where+".Fn::If[1]", local)...)
						return append(out, references(a[2], where+".Fn::If[2]", local)...)
					}
				case "Condition":
					if name, ok := arg.(string); ok {
						return []reference{{where: where, kind: "Condition", name: name}}
					}
				}
			}
		}
		for _, k := range slices.Sorted(maps.Keys(n)) {
			out = append(out, references(n[k], where+"."+k, local)...)
		}
	case []any:
		for i, v := range n {
			out = append(out, references(v, fmt.Sprintf("%s[%d]", where, i), local)...)
		}
	}
	return out
}

// subReferences are the ${Name} and ${Resource.Attribute} of an Fn::Sub
// string; ${!Literal} is text.
func subReferences(s, where string, local map[string]bool) []reference {
	var out []reference
	for _, m := range subVar.FindAllStringSubmatch(s, -1) {
		v := m[1]
		if strings.HasPrefix(v, "!") || local[v] {
			continue
		}
		if name, attr, ok := strings.Cut(v, "."); ok && !strings.Contains(name, "::") {
			out = append(out, reference{where: where, kind: "GetAtt", name: name, attr: attr})
			continue
		}
		out = append(out, reference{where: where, kind: "Sub", name: v})
	}
	return out
}

// allReferences walks every part of the template that may refer to names.
func allReferences(tpl *template) []reference {
	var out []reference
	for _, name := range slices.Sorted(maps.Keys(tpl.Conditions)) {
		out = append(out, references(tpl.Conditions[name], "Conditions."+name, nil)...)
	}
	for _, name := range slices.Sorted(maps.Keys(tpl.Resources)) {
		r := tpl.Resources[name]
		where := "Resources." + name
		out = append(out, references(r.Properties, where+".Properties", nil)...)
		if r.Condition != "" {
			out = append(out, reference{where: where + ".Condition", kind: "Condition", name: r.Condition})
		}
		switch d := r.DependsOn.(type) {
		case string:
			out = append(out, reference{where: where + ".DependsOn", kind: "DependsOn", name: d})
		case []any:
			for _, v := range d {
				s, _ := v.(string)
				out = append(out, reference{where: where + ".DependsOn", kind: "DependsOn", name: s})
			}
		}
	}
	for _, name := range slices.Sorted(maps.Keys(tpl.Outputs)) {
		o := tpl.Outputs[name]
		out = append(out, references(o, "Outputs."+name, nil)...)
	}
	return out
}

// referenceProblems: every Ref, GetAtt, Sub, DependsOn and condition names
// something the template (or CloudFormation) defines.
func referenceProblems(tpl *template) []string {
	var out []string
	for _, r := range allReferences(tpl) {
		res, isResource := tpl.Resources[r.name]
		_, isParameter := tpl.Parameters[r.name]
		switch r.kind {
		case "Ref", "Sub":
			if !isResource && !isParameter && !pseudoParameters[r.name] {
				out = append(out, fmt.Sprintf("%s: %s %q: no such resource, parameter or pseudo parameter", r.where, r.kind, r.name))
			}
			if r.name == "AWS::NoValue" && r.kind == "Sub" {
				out = append(out, fmt.Sprintf("%s: ${AWS::NoValue} in Fn::Sub", r.where))
			}
		case "GetAtt":
			if !isResource {
				out = append(out, fmt.Sprintf("%s: GetAtt %s.%s: no such resource", r.where, r.name, r.attr))
				continue
			}
			attrs, known := attributes[res.Type]
			switch {
			case !known:
				out = append(out, fmt.Sprintf("%s: GetAtt %s.%s: type %s is not in this test's attribute table; add it", r.where, r.name, r.attr, res.Type))
			case !slices.Contains(attrs, r.attr):
				out = append(out, fmt.Sprintf("%s: GetAtt %s.%s: %s has no attribute %s (it has %s)", r.where, r.name, r.attr, res.Type, r.attr, strings.Join(attrs, ", ")))
			}
		case "DependsOn":
			if !isResource {
				out = append(out, fmt.Sprintf("%s: DependsOn %q: no such resource", r.where, r.name))
			}
		case "Condition":
			if _, ok := tpl.Conditions[r.name]; !ok {
				out = append(out, fmt.Sprintf("%s: condition %q is not defined under Conditions", r.where, r.name))
			}
		}
		if strings.HasPrefix(r.where, "Conditions.") && (r.kind == "Ref" || r.kind == "GetAtt") && isResource {
			out = append(out, fmt.Sprintf("%s: a condition may refer to parameters only, not resource %s", r.where, r.name))
		}
	}
	for _, name := range slices.Sorted(maps.Keys(tpl.Resources)) {
		if _, known := attributes[tpl.Resources[name].Type]; !known {
			out = append(out, fmt.Sprintf("Resources.%s: type %s is not in this test's attribute table; add it", name, tpl.Resources[name].Type))
		}
	}
	return out
}

// unusedParameters: a parameter nothing refers to is a question the
// deployer answers for nothing.
func unusedParameters(tpl *template) []string {
	used := map[string]bool{}
	for _, r := range allReferences(tpl) {
		if r.kind == "Ref" || r.kind == "Sub" {
			used[r.name] = true
		}
	}
	var out []string
	for _, name := range slices.Sorted(maps.Keys(tpl.Parameters)) {
		if !used[name] {
			out = append(out, fmt.Sprintf("Parameters.%s is never used", name))
		}
	}
	return out
}

// resourceStarActions are the actions AWS grants only on Resource "*"
// (they have no resource-level permissions). Any other action allowed on
// "*" is broader than it needs to be.
var resourceStarActions = map[string]bool{
	"ecr:GetAuthorizationToken":  true,
	"ecs:RegisterTaskDefinition": true,
	"ecs:DescribeTaskDefinition": true,
	"ecs:TagResource":            true, // with ecs:CreateAction: only while creating
	"cloudwatch:PutMetricData":   true, // with cloudwatch:namespace
}

func stringsOf(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []any:
		var out []string
		for _, e := range x {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil // an intrinsic function: a specific ARN
}

// policyDocuments finds every IAM policy document under node.
func policyDocuments(node any, where string, visit func(where string, doc map[string]any)) {
	switch n := node.(type) {
	case map[string]any:
		for _, k := range slices.Sorted(maps.Keys(n)) {
			if doc, ok := n[k].(map[string]any); ok && (k == "PolicyDocument" || k == "AssumeRolePolicyDocument") {
				visit(where+"."+k, doc)
				continue
			}
			policyDocuments(n[k], where+"."+k, visit)
		}
	case []any:
		for i, v := range n {
			policyDocuments(v, fmt.Sprintf("%s[%d]", where, i), visit)
		}
	}
}

// iamProblems: no Allow statement allows every action, every action of a
// service on every resource, or on "*" an action that can be scoped; none
// uses NotAction or NotResource.
func iamProblems(tpl *template) []string {
	var out []string
	for _, name := range slices.Sorted(maps.Keys(tpl.Resources)) {
		policyDocuments(tpl.Resources[name].Properties, "Resources."+name, func(where string, doc map[string]any) {
			stmts, _ := doc["Statement"].([]any)
			if len(stmts) == 0 {
				out = append(out, where+": no statements")
			}
			for i, s := range stmts {
				st, _ := s.(map[string]any)
				at := fmt.Sprintf("%s.Statement[%d]", where, i)
				if sid, ok := st["Sid"].(string); ok {
					at += " (" + sid + ")"
				}
				if st["Effect"] != "Allow" {
					continue
				}
				if _, ok := st["NotAction"]; ok {
					out = append(out, at+": Allow with NotAction")
				}
				if _, ok := st["NotResource"]; ok {
					out = append(out, at+": Allow with NotResource")
				}
				if p, ok := st["Principal"]; ok && (p == "*" || reflect.DeepEqual(p, map[string]any{"AWS": "*"})) {
					out = append(out, at+": allows any principal")
				}
				actions := stringsOf(st["Action"])
				onStar := slices.Contains(stringsOf(st["Resource"]), "*")
				for _, a := range actions {
					switch {
					case a == "*":
						out = append(out, fmt.Sprintf("%s: allows every action (*)", at))
					case strings.HasSuffix(a, ":*") && onStar:
						out = append(out, fmt.Sprintf("%s: allows %s on every resource (*)", at, a))
					case onStar && !resourceStarActions[a]:
						out = append(out, fmt.Sprintf("%s: allows %s on every resource (*); scope it to ARNs (or, if AWS grants it only on *, add it to resourceStarActions)", at, a))
					}
				}
			}
		})
	}
	return out
}

// documentedSettings reads the env vars the README's "Running it for a
// team" table names: the backquoted names of its first column, and of the
// second where the first is "AWS".
func documentedSettings(readme string) (map[string]bool, error) {
	_, table, ok := strings.Cut(readme, "| env var | meaning | default |")
	if !ok {
		return nil, fmt.Errorf("README.md has no table headed | env var | meaning | default |")
	}
	name := regexp.MustCompile("`([A-Z][A-Z0-9_]+)`")
	out := map[string]bool{}
	for _, line := range strings.Split(table, "\n")[2:] {
		if !strings.HasPrefix(line, "|") {
			break
		}
		cells := strings.Split(line, "|")
		if len(cells) < 4 {
			continue
		}
		cell := cells[1]
		if strings.TrimSpace(cell) == "AWS" {
			cell = cells[2]
		}
		for _, m := range name.FindAllStringSubmatch(cell, -1) {
			out[m[1]] = true
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("README.md's env var table names no settings")
	}
	return out, nil
}

// subcommands reads gantry's subcommands from cmd/gantry: the cases of
// Main.Run's switch and the keys of extraSubcommands.
func subcommands(dir string) (map[string]bool, error) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, dir+"/app.go", nil, 0)
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	lit := func(e ast.Expr) {
		if b, ok := e.(*ast.BasicLit); ok && b.Kind == token.STRING {
			if s, err := strconv.Unquote(b.Value); err == nil {
				out[s] = true
			}
		}
	}
	for _, d := range f.Decls {
		fn, ok := d.(*ast.FuncDecl)
		if !ok {
			continue
		}
		switch fn.Name.Name {
		case "Run":
			ast.Inspect(fn.Body, func(n ast.Node) bool {
				if cc, ok := n.(*ast.CaseClause); ok {
					for _, e := range cc.List {
						lit(e)
					}
				}
				return true
			})
		case "extraSubcommands":
			ast.Inspect(fn.Body, func(n ast.Node) bool {
				if kv, ok := n.(*ast.KeyValueExpr); ok {
					lit(kv.Key)
				}
				return true
			})
		}
	}
	if !out["worker"] {
		return nil, fmt.Errorf("%s/app.go: found no subcommands (Main.Run's switch and extraSubcommands)", dir)
	}
	return out, nil
}

// required are the settings each role cannot do without: the bot serves
// Slack and links to pages at its public address; both read the config
// from the parameter and share Redis.
var required = map[string][]string{
	"bot":    {"REDIS_URL", "GANTRY_CONFIG", "GANTRY_PUBLIC_URL", "SLACK_APP_TOKEN", "SLACK_BOT_TOKEN", "GITHUB_TOKEN", "GITHUB_WEBHOOK_SECRET"},
	"worker": {"REDIS_URL", "GANTRY_CONFIG"},
}

// roleOf is the role resource a task definition's role ARN names, or "".
func roleOf(tpl *template, v any) string {
	m, _ := v.(map[string]any)
	ga, _ := m["Fn::GetAtt"].([]any)
	if len(ga) != 2 || ga[1] != "Arn" {
		return ""
	}
	name, _ := ga[0].(string)
	if r, ok := tpl.Resources[name]; ok && r.Type == "AWS::IAM::Role" {
		return name
	}
	return ""
}

// readableSecrets are the Resource entries of the Allow statements for
// secretsmanager:GetSecretValue in role's inline policies.
func readableSecrets(tpl *template, role string) []any {
	return allowedResources(tpl, role, "secretsmanager:GetSecretValue")
}

// allowedResources are the Resource entries of the Allow statements for
// action in role's inline policies.
func allowedResources(tpl *template, role, action string) []any {
	var out []any
	if tpl.Resources[role] == nil {
		return nil
	}
	policyDocuments(tpl.Resources[role].Properties, role, func(where string, doc map[string]any) {
		if strings.HasSuffix(where, "AssumeRolePolicyDocument") {
			return
		}
		stmts, _ := doc["Statement"].([]any)
		for _, s := range stmts {
			st, _ := s.(map[string]any)
			if st["Effect"] == "Allow" && slices.Contains(stringsOf(st["Action"]), action) {
				if rs, ok := st["Resource"].([]any); ok {
					out = append(out, rs...)
				} else {
					out = append(out, st["Resource"])
				}
			}
		}
	})
	return out
}

// runnerConfigText is the text of the RunnerConfig output's Fn::Sub.
func runnerConfigText(tpl *template) string {
	sub, _ := tpl.Outputs["RunnerConfig"]["Value"].(map[string]any)["Fn::Sub"].([]any)
	if len(sub) != 2 {
		return ""
	}
	text, _ := sub[0].(string)
	return text
}

var jobRoleRE = regexp.MustCompile(`(?:build_role_arn|task_role_arn): \$\{(\w+)\.Arn\}`)

// featureProblems: the roles can do what artifacts and events need. Every
// job task role the RunnerConfig output names (the build role, each
// deploy role) may put objects in the artifacts bucket, since the task
// uploads them itself; the bot's role may read them, to presign links,
// and put events on the bus.
func featureProblems(tpl *template) []string {
	var out []string
	need := func(role, action, resource string) {
		if slices.ContainsFunc(allowedResources(tpl, role, action), func(r any) bool { return subText(r) == resource }) {
			return
		}
		out = append(out, fmt.Sprintf("Resources.%s: no Allow of %s on %s", role, action, resource))
	}
	const objects = "${ArtifactsBucket.Arn}/*"
	roles := jobRoleRE.FindAllStringSubmatch(runnerConfigText(tpl), -1)
	if len(roles) == 0 {
		out = append(out, "Outputs.RunnerConfig names no job roles (build_role_arn: ${ROLE.Arn})")
	}
	for _, m := range roles {
		need(m[1], "s3:PutObject", objects)
	}
	bot := ""
	if td, ok := tpl.Resources["BotTaskDefinition"]; ok {
		bot = roleOf(tpl, td.Properties["TaskRoleArn"])
	}
	need(bot, "s3:GetObject", objects)
	need(bot, "events:PutEvents", "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/${EventBusName}")
	return out
}

// subText is an Fn::Sub string or a plain string, for checking its shape.
func subText(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	m, _ := v.(map[string]any)
	s, _ := m["Fn::Sub"].(string)
	return s
}

// taskDefinitionProblems: every container runs a real gantry subcommand
// with settings the README documents, including those its role needs;
// its roles are roles of the template; its execution role may read each
// of its secrets.
func taskDefinitionProblems(tpl *template, documented, commands map[string]bool) []string {
	var out []string
	seen := map[string]bool{}
	for _, name := range slices.Sorted(maps.Keys(tpl.Resources)) {
		r := tpl.Resources[name]
		if r.Type != "AWS::ECS::TaskDefinition" {
			continue
		}
		at := "Resources." + name
		task := roleOf(tpl, r.Properties["TaskRoleArn"])
		if task == "" {
			out = append(out, at+": TaskRoleArn is not Fn::GetAtt [ROLE, Arn] of an AWS::IAM::Role of the template")
		}
		exec := roleOf(tpl, r.Properties["ExecutionRoleArn"])
		if exec == "" {
			out = append(out, at+": ExecutionRoleArn is not Fn::GetAtt [ROLE, Arn] of an AWS::IAM::Role of the template")
		}
		containers, _ := r.Properties["ContainerDefinitions"].([]any)
		for i, c := range containers {
			cd, _ := c.(map[string]any)
			cat := fmt.Sprintf("%s.ContainerDefinitions[%d]", at, i)
			cmd := stringsOf(cd["Command"])
			if len(cmd) == 0 || !commands[cmd[0]] {
				out = append(out, fmt.Sprintf("%s: Command %v is not a gantry subcommand (cmd/gantry has %s)", cat, cmd, strings.Join(slices.Sorted(maps.Keys(commands)), ", ")))
				continue
			}
			role := cmd[0]
			seen[role] = true
			set := map[string]any{}
			envs, _ := cd["Environment"].([]any)
			for _, e := range envs {
				if m, ok := e.(map[string]any); ok {
					if f, ok := m["Fn::If"].([]any); ok && len(f) == 3 {
						m, _ = f[1].(map[string]any)
					}
					if n, ok := m["Name"].(string); ok {
						set[n] = m["Value"]
					}
				}
			}
			secrets, _ := cd["Secrets"].([]any)
			readable := []any(nil)
			if exec != "" {
				readable = readableSecrets(tpl, exec)
			}
			for _, s := range secrets {
				m, _ := s.(map[string]any)
				n, _ := m["Name"].(string)
				set[n] = m["ValueFrom"]
				if exec != "" && !slices.ContainsFunc(readable, func(r any) bool { return reflect.DeepEqual(r, m["ValueFrom"]) }) {
					out = append(out, fmt.Sprintf("%s: secret %s comes from %v, which the execution role %s may not read (secretsmanager:GetSecretValue)", cat, n, m["ValueFrom"], exec))
				}
			}
			for _, n := range slices.Sorted(maps.Keys(set)) {
				if !documented[n] {
					out = append(out, fmt.Sprintf("%s: %s is not a setting README.md's env var table documents", cat, n))
				}
			}
			for _, n := range required[role] {
				if _, ok := set[n]; !ok {
					out = append(out, fmt.Sprintf("%s: gantry %s needs %s, which it is not given", cat, role, n))
				}
			}
			if v, ok := set["GANTRY_PUBLIC_URL"]; ok && !strings.HasPrefix(subText(v), "https://") {
				out = append(out, fmt.Sprintf("%s: GANTRY_PUBLIC_URL is %v, want https://… (the load balancer's HTTPS name)", cat, v))
			}
			if v, ok := set["GANTRY_CONFIG"]; ok {
				if s := subText(v); !strings.HasPrefix(s, "ssm:") && !strings.HasPrefix(s, "s3://") {
					out = append(out, fmt.Sprintf("%s: GANTRY_CONFIG is %v, want ssm:NAME or s3://BUCKET/KEY (the image holds no config)", cat, v))
				}
			}
		}
	}
	for _, role := range []string{"bot", "worker"} {
		if !seen[role] {
			out = append(out, fmt.Sprintf("no task definition runs gantry %s", role))
		}
	}
	return out
}

// redisProblems: Redis speaks TLS with an AUTH token, keeps a replica in
// another zone that takes over by itself, and only the security groups of
// gantry's own services may reach it.
func redisProblems(tpl *template) []string {
	var out []string
	services := map[string]bool{} // security groups of gantry's ECS services
	for _, name := range slices.Sorted(maps.Keys(tpl.Resources)) {
		r := tpl.Resources[name]
		if r.Type != "AWS::ECS::Service" {
			continue
		}
		nc, _ := r.Properties["NetworkConfiguration"].(map[string]any)
		av, _ := nc["AwsvpcConfiguration"].(map[string]any)
		sgs, _ := av["SecurityGroups"].([]any)
		for _, sg := range sgs {
			for _, ref := range references(sg, "", nil) {
				services[ref.name] = true
			}
		}
	}
	found := false
	for _, name := range slices.Sorted(maps.Keys(tpl.Resources)) {
		r := tpl.Resources[name]
		if r.Type != "AWS::ElastiCache::ReplicationGroup" {
			continue
		}
		found = true
		at := "Resources." + name
		for _, k := range []string{"TransitEncryptionEnabled", "AtRestEncryptionEnabled", "AutomaticFailoverEnabled", "MultiAZEnabled"} {
			if r.Properties[k] != true {
				out = append(out, fmt.Sprintf("%s: %s is %v, want true", at, k, r.Properties[k]))
			}
		}
		if n, _ := r.Properties["NumCacheClusters"].(int); n < 2 {
			out = append(out, fmt.Sprintf("%s: NumCacheClusters is %v, want a primary and a replica (2 or more)", at, r.Properties["NumCacheClusters"]))
		}
		if !strings.Contains(subText(r.Properties["AuthToken"]), "{{resolve:secretsmanager:") {
			out = append(out, at+": AuthToken does not come from a Secrets Manager secret")
		}
		sgs, _ := r.Properties["SecurityGroupIds"].([]any)
		for _, sg := range sgs {
			for _, ref := range references(sg, "", nil) {
				g, ok := tpl.Resources[ref.name]
				if !ok {
					continue
				}
				rules, _ := g.Properties["SecurityGroupIngress"].([]any)
				for j, rule := range rules {
					ru, _ := rule.(map[string]any)
					src := references(ru["SourceSecurityGroupId"], "", nil)
					if len(src) != 1 || !services[src[0].name] {
						out = append(out, fmt.Sprintf("Resources.%s.SecurityGroupIngress[%d]: Redis is reachable from something other than gantry's own services", ref.name, j))
					}
				}
			}
		}
	}
	if !found {
		out = append(out, "no AWS::ElastiCache::ReplicationGroup")
	}
	for _, name := range slices.Sorted(maps.Keys(tpl.Resources)) {
		r := tpl.Resources[name]
		if r.Type == "AWS::SecretsManager::Secret" && strings.Contains(name, "Redis") && r.Properties["SecretString"] != nil {
			if !strings.HasPrefix(subText(r.Properties["SecretString"]), "rediss://") {
				out = append(out, fmt.Sprintf("Resources.%s: the Redis URL does not start with rediss:// (TLS)", name))
			}
		}
	}
	return out
}

// dockerfileProblems: the final stage of the Dockerfile is Debian slim
// with git, bash, CA certificates and an ssh client, runs gantry as a user
// that is not root, defaults to a real subcommand, and copies in no
// config.
func dockerfileProblems(dockerfile string, commands map[string]bool) []string {
	var out []string
	stages := strings.Split(dockerfile, "\nFROM ")
	final := "FROM " + stages[len(stages)-1]
	first, _, _ := strings.Cut(final, "\n")
	if !regexp.MustCompile(`^FROM debian:[a-z]+-slim\b`).MatchString(first) {
		out = append(out, fmt.Sprintf("Dockerfile: the final stage is %q, not Debian slim", first))
	}
	install := regexp.MustCompile(`apt-get install[^&]*`).FindString(final)
	for _, pkg := range []string{"git", "bash", "ca-certificates", "openssh-client"} {
		if !slices.Contains(strings.Fields(install), pkg) {
			out = append(out, fmt.Sprintf("Dockerfile: %s is not installed in the final stage", pkg))
		}
	}
	user := regexp.MustCompile(`(?m)^USER\s+(\S+)`).FindAllStringSubmatch(final, -1)
	if len(user) == 0 {
		out = append(out, "Dockerfile: no USER: the image runs as root")
	} else if u, _, _ := strings.Cut(user[len(user)-1][1], ":"); u == "root" || u == "0" {
		out = append(out, "Dockerfile: USER "+u+": the image runs as root")
	}
	for _, m := range regexp.MustCompile(`(?m)^(COPY|ADD)\s+(.*)$`).FindAllStringSubmatch(final, -1) {
		if strings.Contains(m[2], ".yml") || strings.Contains(m[2], ".yaml") || strings.Contains(m[2], "/etc/gantry") {
			out = append(out, fmt.Sprintf("Dockerfile: %s %s copies a config into the image; GANTRY_CONFIG names it at run time", m[1], m[2]))
		}
	}
	if !regexp.MustCompile(`(?m)^ENTRYPOINT \["[^"]*/gantry"\]`).MatchString(final) {
		out = append(out, "Dockerfile: the ENTRYPOINT is not the gantry binary")
	}
	if m := regexp.MustCompile(`(?m)^CMD \["([^"]+)"`).FindStringSubmatch(final); m == nil || !commands[m[1]] {
		got := ""
		if m != nil {
			got = m[1]
		}
		out = append(out, fmt.Sprintf("Dockerfile: CMD %q is not a gantry subcommand", got))
	}
	return out
}
