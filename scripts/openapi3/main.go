// Command openapi3 writes the OpenAPI 3 document of the REST API for
// scripts/generate. protoc-gen-openapiv2 writes Swagger 2.0 from the
// protos; kin-openapi's converter turns that into OpenAPI 3.0; this
// command then states what neither can:
//
//   - the error answers: every operation names the HTTP statuses Banli's
//     gRPC codes become, each a google.rpc.Status (errorStatuses);
//   - the updates: a PATCH body names only the fields it changes;
//   - the downloads: a google.api.HttpBody answer is raw bytes of the
//     media types the method declares (proto/banli/v1/openapi.yaml), not
//     a JSON object;
//   - each service's tag, described by the service's comment in the
//     protos (read from the descriptor set buf builds);
//   - the routes the server answers outside the generated gateway
//     handlers (the upload, the Atom feed, the probes, the metrics, the
//     documents themselves), and the error answers' wording, from
//     proto/banli/v1/openapi3.yaml.
//
// Schemas that nothing refers to once this is done (the HttpBody message,
// enums the generator wrote inline in query parameters) are left out.
//
// Usage:
//
//	go run ./scripts/openapi3 -swagger banli.swagger.json -descriptors banli.binpb \
//	  -rules openapi3.yaml > banli.openapi.json
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"maps"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"

	"github.com/getkin/kin-openapi/openapi2"
	"github.com/getkin/kin-openapi/openapi2conv"
	"github.com/getkin/kin-openapi/openapi3"
	"go.yaml.in/yaml/v4"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/descriptorpb"
)

func main() {
	swagger := flag.String("swagger", "", "the Swagger 2.0 document protoc-gen-openapiv2 wrote")
	descriptors := flag.String("descriptors", "", "the protos' FileDescriptorSet, with source info")
	rules := flag.String("rules", "", "the OpenAPI 3 fragment with the error answers and the extra routes")
	flag.Parse()
	doc, err := convert(*swagger, *descriptors, *rules)
	if err != nil {
		fmt.Fprintln(os.Stderr, "openapi3:", err)
		os.Exit(1)
	}
	out, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		fmt.Fprintln(os.Stderr, "openapi3:", err)
		os.Exit(1)
	}
	os.Stdout.Write(append(out, '\n'))
}

func convert(swaggerPath, descriptorsPath, rulesPath string) (*openapi3.T, error) {
	raw, err := os.ReadFile(swaggerPath)
	if err != nil {
		return nil, err
	}
	var doc2 openapi2.T
	if err := json.Unmarshal(raw, &doc2); err != nil {
		return nil, fmt.Errorf("%s: %w", swaggerPath, err)
	}
	doc, err := openapi2conv.ToV3(&doc2)
	if err != nil {
		return nil, fmt.Errorf("convert %s: %w", swaggerPath, err)
	}
	fragment, err := readFragment(rulesPath)
	if err != nil {
		return nil, err
	}
	// The server answers on the host and port it is reached at, over
	// HTTPS, or HTTP on loopback.
	doc.Servers = openapi3.Servers{{URL: "/"}}
	for _, name := range slices.Sorted(maps.Keys(fragment.Components.Responses)) {
		if doc.Components.Responses == nil {
			doc.Components.Responses = openapi3.ResponseBodies{}
		}
		doc.Components.Responses[name] = fragment.Components.Responses[name]
	}
	for _, e := range errorStatuses {
		if doc.Components.Responses[e.response] == nil {
			return nil, fmt.Errorf("%s declares no components.responses.%s", rulesPath, e.response)
		}
	}
	for _, op := range operations(doc) {
		rawDownloads(op.Operation)
		if op.method == http.MethodPatch {
			if err := partialBody(op.Operation); err != nil {
				return nil, err
			}
		}
	}
	if err := addRoutes(doc, fragment, rulesPath); err != nil {
		return nil, err
	}
	for _, op := range operations(doc) {
		declareErrors(op.method, op.Operation)
	}
	if err := describeTags(doc, descriptorsPath); err != nil {
		return nil, err
	}
	doc.Tags = append(doc.Tags, fragment.Tags...)
	pruneSchemas(doc)
	loader := openapi3.NewLoader()
	if err := loader.ResolveRefsIn(doc, nil); err != nil {
		return nil, fmt.Errorf("resolve references: %w", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("the document is not valid OpenAPI 3: %w", err)
	}
	return doc, nil
}

// readFragment reads the rules file, an OpenAPI 3 document in YAML whose
// references point into the converted document (so it is not resolved on
// its own).
func readFragment(path string) (*openapi3.T, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var tree any
	if err := yaml.Unmarshal(raw, &tree); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	asJSON, err := json.Marshal(tree)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var fragment openapi3.T
	if err := json.Unmarshal(asJSON, &fragment); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if fragment.Components == nil {
		fragment.Components = &openapi3.Components{}
	}
	return &fragment, nil
}

// errorStatuses are the error answers every operation declares, each
// a components.responses entry of the rules file, with the gRPC codes
// that grpc-gateway turns into that status (runtime.HTTPStatusFromCode).
// 409 (ABORTED, ALREADY_EXISTS) is declared where something can change
// (any method but GET); 413 where there is a body to be too large.
// Every other status (500, 501, 503, 504) is "default".
var errorStatuses = []struct {
	status   string
	response string
	applies  func(method string, op *openapi3.Operation) bool
}{
	{"400", "BadRequest", always},
	{"401", "Unauthenticated", always},
	{"403", "PermissionDenied", always},
	{"404", "NotFound", always},
	{"409", "Conflict", func(method string, _ *openapi3.Operation) bool { return method != http.MethodGet }},
	{"413", "TooLarge", func(_ string, op *openapi3.Operation) bool { return op.RequestBody != nil }},
	{"429", "TooManyRequests", always},
	{"default", "Unexpected", always},
}

func always(string, *openapi3.Operation) bool { return true }

// declareErrors points op's error answers at the shared ones. What the
// generator wrote for "default" is replaced: it declares the error in
// the operation's media types, which for a download are not JSON.
// An answer the rules file wrote for the route itself stays, and a
// route it marks x-banli-plain-http (a probe, the metrics: no gRPC call
// behind it) declares all its own answers.
func declareErrors(method string, op *openapi3.Operation) {
	if op.Extensions["x-banli-plain-http"] != nil {
		delete(op.Extensions, "x-banli-plain-http")
		return
	}
	for _, e := range errorStatuses {
		if !e.applies(method, op) {
			continue
		}
		if e.status != "default" && op.Responses.Value(e.status) != nil {
			continue
		}
		op.Responses.Set(e.status, &openapi3.ResponseRef{Ref: "#/components/responses/" + e.response})
	}
}

// rawDownloads declares a google.api.HttpBody answer as what it is, the
// bytes of a file in each media type the method produces (the generator
// writes it as a "string" with object properties, which validators
// refuse), and a stream's Server-Sent Events as text.
func rawDownloads(op *openapi3.Operation) {
	ok := op.Responses.Value("200")
	if ok == nil || ok.Value == nil {
		return
	}
	for mediaType, media := range ok.Value.Content {
		switch s := media.Schema; {
		case s != nil && s.Value != nil && s.Value.Format == "binary":
			media.Schema = openapi3.NewSchemaRef("", openapi3.NewStringSchema().WithFormat("binary"))
		case mediaType == "text/event-stream":
			// Server-Sent Events are text; each event's data is the
			// JSON the application/x-ndjson line holds.
			media.Schema = openapi3.NewSchemaRef("", openapi3.NewStringSchema())
		}
	}
	if d := ok.Value.Description; d != nil && strings.HasSuffix(*d, ".(streaming responses)") {
		streamed := strings.TrimSuffix(*d, ".(streaming responses)") + ", streamed."
		ok.Value.Description = &streamed
	}
}

// partialBody lets an update's body name only the fields it changes. The
// body of a PATCH is the resource (AIP-134), and the fields it names are
// the update mask, so the fields the resource requires on create are not
// required here. The generator writes the body inline, with the
// resource's required list; a body by reference would need a copy, and
// is refused so that the rule cannot silently stop applying.
func partialBody(op *openapi3.Operation) error {
	if op.RequestBody == nil || op.RequestBody.Value == nil {
		return nil
	}
	for _, media := range op.RequestBody.Value.Content {
		if s := media.Schema; s != nil && s.Ref != "" {
			return fmt.Errorf("%s: the update's body is %s, not written inline", op.OperationID, s.Ref)
		} else if s != nil && s.Value != nil {
			s.Value.Required = nil
		}
	}
	return nil
}

// addRoutes adds the rules file's paths. An operation marked
// x-banli-parameters-of takes the parameters of the named operation (the
// Atom feed is the JSON list's query in another form).
func addRoutes(doc, fragment *openapi3.T, rulesPath string) error {
	byID := map[string]*openapi3.Operation{}
	for _, op := range operations(doc) {
		byID[op.OperationID] = op.Operation
	}
	for path, item := range fragment.Paths.Map() {
		if doc.Paths.Value(path) != nil {
			return fmt.Errorf("%s: %s is already in the converted document", rulesPath, path)
		}
		for _, op := range item.Operations() {
			if from, ok := op.Extensions["x-banli-parameters-of"].(string); ok {
				like := byID[from]
				if like == nil {
					return fmt.Errorf("%s: %s: x-banli-parameters-of names no operation %q", rulesPath, path, from)
				}
				op.Parameters = append(slices.Clone(like.Parameters), op.Parameters...)
				delete(op.Extensions, "x-banli-parameters-of")
			}
			if from, ok := op.Extensions["x-banli-describe-from"].(string); ok {
				if err := describeFrom(doc, op, from); err != nil {
					return fmt.Errorf("%s: %s: %w", rulesPath, path, err)
				}
				delete(op.Extensions, "x-banli-describe-from")
			}
		}
		doc.Paths.Set(path, item)
	}
	return nil
}

// describeFrom gives each of op's query parameters the description of
// the field of the same name (file_name, fileName) of the schema named.
func describeFrom(doc *openapi3.T, op *openapi3.Operation, schemaName string) error {
	schema := doc.Components.Schemas[schemaName]
	if schema == nil || schema.Value == nil {
		return fmt.Errorf("x-banli-describe-from names no schema %q", schemaName)
	}
	for _, p := range op.Parameters {
		if p.Value == nil || p.Value.In != openapi3.ParameterInQuery {
			continue
		}
		field := schema.Value.Properties[lowerCamel(p.Value.Name)]
		if field == nil || field.Value == nil || field.Value.Description == "" {
			return fmt.Errorf("%s has no described field for the parameter %q", schemaName, p.Value.Name)
		}
		p.Value.Description = field.Value.Description
	}
	return nil
}

// lowerCamel is a proto field's JSON name (file_name: fileName).
func lowerCamel(name string) string {
	parts := strings.Split(name, "_")
	for i := 1; i < len(parts); i++ {
		if parts[i] != "" {
			parts[i] = strings.ToUpper(parts[i][:1]) + parts[i][1:]
		}
	}
	return strings.Join(parts, "")
}

// describeTags describes each service's tag with the service's leading
// comment in the protos.
func describeTags(doc *openapi3.T, descriptorsPath string) error {
	raw, err := os.ReadFile(descriptorsPath)
	if err != nil {
		return err
	}
	var set descriptorpb.FileDescriptorSet
	if err := proto.Unmarshal(raw, &set); err != nil {
		return fmt.Errorf("%s: %w", descriptorsPath, err)
	}
	comments := map[string]string{}
	for _, file := range set.GetFile() {
		for _, loc := range file.GetSourceCodeInfo().GetLocation() {
			// [6, i] is the i-th service of the file (FileDescriptorProto.service).
			if p := loc.GetPath(); len(p) == 2 && p[0] == 6 {
				comments[file.GetService()[p[1]].GetName()] = strings.TrimSpace(loc.GetLeadingComments())
			}
		}
	}
	for _, tag := range doc.Tags {
		c, ok := comments[tag.Name]
		if !ok || c == "" {
			return fmt.Errorf("the service %s has no comment to describe its tag", tag.Name)
		}
		tag.Description = unwrap(c)
	}
	return nil
}

// unwrap joins a comment's lines into paragraphs, as Markdown reads them.
func unwrap(comment string) string {
	var paragraphs []string
	for _, p := range strings.Split(comment, "\n\n") {
		paragraphs = append(paragraphs, strings.Join(strings.Fields(p), " "))
	}
	return strings.Join(paragraphs, "\n\n")
}

// pruneSchemas removes the component schemas that neither an operation
// nor another component refers to, at any depth.
func pruneSchemas(doc *openapi3.T) {
	schemas := doc.Components.Schemas
	doc.Components.Schemas = nil
	root, _ := json.Marshal(doc)
	doc.Components.Schemas = schemas
	used := map[string]bool{}
	queue := [][]byte{root}
	for len(queue) > 0 {
		text := string(queue[0])
		queue = queue[1:]
		for _, m := range schemaRef.FindAllStringSubmatch(text, -1) {
			if name := m[1]; !used[name] && schemas[name] != nil {
				used[name] = true
				b, _ := json.Marshal(schemas[name])
				queue = append(queue, b)
			}
		}
	}
	for name := range schemas {
		if !used[name] {
			delete(schemas, name)
		}
	}
}

var schemaRef = regexp.MustCompile(`"#/components/schemas/([^"]+)"`)

type operation struct {
	method string
	*openapi3.Operation
}

// operations lists doc's operations in path and method order.
func operations(doc *openapi3.T) []operation {
	var out []operation
	for _, path := range doc.Paths.InMatchingOrder() {
		ops := doc.Paths.Value(path).Operations()
		for _, method := range slices.Sorted(maps.Keys(ops)) {
			out = append(out, operation{strings.ToUpper(method), ops[method]})
		}
	}
	return out
}
