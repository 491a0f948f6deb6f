package httpapi_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	validatorErrors "github.com/pb33f/libopenapi-validator/errors"
)

// The API description is checked against what the server answers: every
// request the HTTP tests make, and its response, is validated against
// openapi.yaml (libopenapi-validator, OpenAPI 3.1), so a route, a field or
// a status that is not described fails the test that met it.
var contract struct {
	once sync.Once
	v    validator.Validator
	err  error
}

func openapiValidator() (validator.Validator, error) {
	contract.once.Do(func() {
		spec, err := os.ReadFile("openapi.yaml")
		if err != nil {
			contract.err = err
			return
		}
		doc, err := libopenapi.NewDocument(spec)
		if err != nil {
			contract.err = err
			return
		}
		v, errs := validator.NewValidator(doc)
		if len(errs) > 0 {
			contract.err = fmt.Errorf("openapi.yaml: %v", errs)
			return
		}
		contract.v = v
	})
	return contract.v, contract.err
}

// checkContract validates one exchange; it reports what does not match.
func checkContract(t testing.TB, method, url string, reqHeader http.Header, reqBody string, r response) {
	t.Helper()
	v, err := openapiValidator()
	if err != nil {
		t.Fatalf("the API description: %v", err)
	}
	req, _ := http.NewRequest(method, url, strings.NewReader(reqBody))
	req.Header = reqHeader.Clone()
	resp := &http.Response{StatusCode: r.status, Header: r.header, Body: io.NopCloser(bytes.NewReader(r.body)), Request: req}
	// A request the server refused (4xx) is one the tests send on purpose
	// outside the description: only the answer is checked, and a 404 for
	// a path the description does not know is what it should be. NDJSON
	// bodies are beyond the validator: their answer is checked.
	var ok bool
	var errs []*validatorErrors.ValidationError
	switch {
	case r.status >= 400 || strings.Contains(reqHeader.Get("Content-Type"), "ndjson"):
		ok, errs = v.ValidateHttpResponse(req, resp)
		if !ok && r.status == http.StatusNotFound && len(errs) > 0 && strings.Contains(errs[0].Message, "not found") {
			ok = true
		}
	default:
		ok, errs = v.ValidateHttpRequestResponse(req, resp)
	}
	if !ok {
		var msgs []string
		for _, e := range errs {
			msg := e.Message
			if e.Reason != "" {
				msg += ": " + e.Reason
			}
			for _, se := range e.SchemaValidationErrors {
				msg += " [" + se.FieldPath + ": " + se.Reason + "]"
			}
			msgs = append(msgs, msg)
		}
		sort.Strings(msgs)
		contractMismatch(t, fmt.Sprintf("%s %s -> %d: %s", method, req.URL.Path, r.status, strings.Join(msgs, "; ")))
	}
}

var mismatches = struct {
	sync.Mutex
	f *os.File
}{}

func contractMismatch(t testing.TB, msg string) {
	if path := os.Getenv("CDP_CONTRACT_LOG"); path != "" {
		mismatches.Lock()
		defer mismatches.Unlock()
		if mismatches.f == nil {
			mismatches.f, _ = os.Create(path)
		}
		fmt.Fprintln(mismatches.f, msg)
		return
	}
	t.Errorf("the API description does not match the server: %s", msg)
}
