package gateway

import (
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc/codes"

	"github.com/banli/banli/gen/openapi"
)

// A path the API has, called with a method it does not take, is 405
// Method Not Allowed with the methods it takes in Allow, as HTTP says;
// grpc-gateway would answer 501 Not Implemented. The methods come from
// the OpenAPI document, the one list of the routes.

// routeMethods is the OpenAPI document's paths, each as a pattern with
// the methods it takes.
var routeMethods = sync.OnceValue(func() []pathMethods {
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(openapi.JSON, &doc); err != nil {
		panic("the embedded OpenAPI document: " + err.Error())
	}
	param := regexp.MustCompile(`\{[^}]*\}`)
	var out []pathMethods
	for template, ops := range doc.Paths {
		// The document names each segment's parameter
		// (/v1/proposals/{proposal}/assignments/{assignment}:sign).
		pattern := "^" + strings.Join(param.Split(template, -1), "PARAM") + "$"
		pattern = strings.ReplaceAll(regexp.QuoteMeta(pattern), "PARAM", `[^/:]+`)
		pattern = strings.ReplaceAll(pattern, `\^`, "^")
		pattern = strings.ReplaceAll(pattern, `\$`, "$")
		pm := pathMethods{re: regexp.MustCompile(pattern)}
		for method := range ops {
			pm.methods = append(pm.methods, strings.ToUpper(method))
		}
		out = append(out, pm)
	}
	return out
})

type pathMethods struct {
	re      *regexp.Regexp
	methods []string
}

// allowedMethods lists the methods the API takes on path.
func allowedMethods(path string) []string {
	var out []string
	for _, pm := range routeMethods() {
		if pm.re.MatchString(path) {
			out = append(out, pm.methods...)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// routingErrors answers a method the path does not take with 405 and
// Allow; everything else as grpc-gateway does.
func routingErrors(ctx context.Context, mux *runtime.ServeMux, m runtime.Marshaler, w http.ResponseWriter, r *http.Request, httpStatus int) {
	if httpStatus == http.StatusMethodNotAllowed {
		if allow := allowedMethods(r.URL.Path); len(allow) > 0 {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			WriteStatus(w, http.StatusMethodNotAllowed, codes.Unimplemented, r.Method+" is not a method of "+r.URL.Path+"; it takes "+strings.Join(allow, ", "))
			return
		}
	}
	runtime.DefaultRoutingErrorHandler(ctx, mux, m, w, r, httpStatus)
}

// WriteStatus answers a request refused before it reaches the gateway's
// handlers (a method the path does not take, a body too large to read) as
// the gateway answers every other refusal: a google.rpc.Status in JSON.
func WriteStatus(w http.ResponseWriter, httpStatus int, code codes.Code, message string) {
	b, _ := json.Marshal(map[string]any{"code": code, "message": message, "details": []any{}})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(httpStatus)
	w.Write(append(b, '\n'))
}
