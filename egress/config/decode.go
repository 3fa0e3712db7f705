package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// object is one decoded document: its identity and its raw JSON, before
// the kind-specific decoding done by compile.
type object struct {
	File      string // file it came from
	Doc       string // "document 2", or "document 2 items[0]" inside a List
	Group     string // API group: "networking.istio.io", "" for core
	Version   string // "v1", "v1alpha3", ...
	Kind      string
	Namespace string
	Name      string
	Meta      metav1.ObjectMeta
	JSON      []byte          // the whole document as JSON
	Spec      json.RawMessage // the spec field, nil if absent
}

// Resource names the object for messages: "ServiceEntry default/cnn".
func (o *object) Resource() string {
	if o.Kind == "Namespace" {
		return o.Kind + " " + o.Name
	}
	return o.Kind + " " + o.Namespace + "/" + o.Name
}

// key identifies an object for replacement by a later document (kubectl apply).
func (o *object) key() string {
	return o.Group + "|" + o.Kind + "|" + o.Namespace + "|" + o.Name
}

type envelope struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Metadata   metav1.ObjectMeta `json:"metadata"`
	Spec       json.RawMessage   `json:"spec"`
	Items      []json.RawMessage `json:"items"`
}

// document is one "---"-separated part of a YAML file.
type document struct {
	N    int // 1-based position in the file
	Line int // 1-based line the document starts on
	Data []byte
}

// splitDocuments splits a YAML stream on "---" lines. Documents that hold
// only blank lines and comments are dropped (but keep their number); a
// comment header before the first "---" is not counted.
func splitDocuments(data []byte) []document {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	var docs []document
	var cur []byte
	n, startLine, seenSep := 0, 1, false
	emit := func() {
		if !seenSep && blankYAML(cur) {
			return
		}
		n++
		if !blankYAML(cur) {
			docs = append(docs, document{N: n, Line: startLine, Data: cur})
		}
	}
	for i, l := range bytes.SplitAfter(data, []byte("\n")) {
		t := bytes.TrimRight(l, "\r\n")
		if !(bytes.Equal(t, []byte("---")) || bytes.HasPrefix(t, []byte("--- ")) || bytes.HasPrefix(t, []byte("---\t"))) {
			cur = append(cur, l...)
			continue
		}
		emit()
		seenSep = true
		cur, startLine = nil, i+2
		if rest := bytes.TrimSpace(t[3:]); len(rest) > 0 && rest[0] != '#' {
			cur = append(append(cur, rest...), '\n')
			startLine = i + 1
		}
	}
	seenSep = true
	emit()
	return docs
}

// blankYAML reports whether b holds nothing but blank lines and comments.
func blankYAML(b []byte) bool {
	for len(b) > 0 {
		var l []byte
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			l, b = b[:i], b[i+1:]
		} else {
			l, b = b, nil
		}
		l = bytes.TrimSpace(l)
		if len(l) > 0 && l[0] != '#' && !bytes.Equal(l, []byte("...")) {
			return false
		}
	}
	return true
}

// decodeFile decodes every document of one file and passes each resource
// to add, in order. Problems are reported to r.
func decodeFile(file string, data []byte, r *report, add func(*object)) {
	docs := splitDocuments(data)
	jsons, errs := yamlToJSON(docs)
	for i, d := range docs {
		where := fmt.Sprintf("document %d (line %d)", d.N, d.Line)
		if err := errs[i]; err != nil {
			msg := strings.TrimPrefix(err.Error(), "error converting YAML to JSON: ")
			r.problem(file, "", where, "%s", fileLines(msg, d.Line))
			continue
		}
		if j := jsons[i]; !bytes.Equal(bytes.TrimSpace(j), []byte("null")) {
			decodeObject(file, where, j, r, add)
		}
	}
}

// yamlToJSON converts documents to JSON, in parallel for large files: YAML
// parsing is most of the time spent loading thousands of resources.
func yamlToJSON(docs []document) ([][]byte, []error) {
	jsons, errs := make([][]byte, len(docs)), make([]error, len(docs))
	convert := func(i int) { jsons[i], errs[i] = yaml.YAMLToJSON(docs[i].Data) }
	workers := min(runtime.GOMAXPROCS(0), len(docs)/64)
	if workers < 2 {
		for i := range docs {
			convert(i)
		}
		return jsons, errs
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < len(docs); i = int(next.Add(1) - 1) {
				convert(i)
			}
		})
	}
	wg.Wait()
	return jsons, errs
}

func decodeObject(file, where string, j []byte, r *report, add func(*object)) {
	if len(j) == 0 || j[0] != '{' {
		r.problem(file, "", where, "not a Kubernetes resource (want a mapping with apiVersion, kind and metadata)")
		return
	}
	var env envelope
	if err := json.Unmarshal(j, &env); err != nil {
		r.problem(file, "", where, "%s", jsonErr(err))
		return
	}
	if env.Kind == "" || env.APIVersion == "" {
		r.problem(file, "", where, "apiVersion and kind are required")
		return
	}
	group, version, ok := strings.Cut(env.APIVersion, "/")
	if !ok {
		group, version = "", env.APIVersion
	}
	if group == "" && version == "v1" && env.Kind == "List" {
		for i, item := range env.Items {
			decodeObject(file, fmt.Sprintf("%s items[%d]", where, i), item, r, add)
		}
		return
	}
	o := &object{
		File: file, Doc: where, Group: group, Version: version, Kind: env.Kind,
		Namespace: env.Metadata.Namespace, Name: env.Metadata.Name,
		Meta: env.Metadata, JSON: j, Spec: env.Spec,
	}
	if o.Namespace == "" {
		o.Namespace = "default"
	}
	if o.Name == "" {
		r.problem(file, env.Kind, where+": metadata.name", "required")
		return
	}
	add(o)
}

// protojsonErr strips protojson's randomised "proto: (line 1:2): " prefix,
// whose position refers to the converted JSON, not the user's YAML.
var protojsonPrefix = regexp.MustCompile(`^proto:[\s\x{00a0}]*(\(line \d+:\d+\):[\s\x{00a0}]*)?`)

// unmarshalSpec decodes spec into m, rejecting unknown fields and bad enum values.
func unmarshalSpec(spec json.RawMessage, m proto.Message) error {
	if len(spec) == 0 || bytes.Equal(spec, []byte("null")) {
		return nil
	}
	err := protojson.Unmarshal(spec, m)
	if err != nil && strings.Contains(err.Error(), "google.protobuf.Duration") {
		if fixed := goDurations(spec); fixed != nil {
			proto.Reset(m)
			err = protojson.Unmarshal(fixed, m)
		}
	}
	if err != nil {
		return fmt.Errorf("%s", protojsonPrefix.ReplaceAllString(err.Error(), ""))
	}
	return nil
}

var yamlLine = regexp.MustCompile(`\bline (\d+)`)

// fileLines rewrites "line N" in a YAML error, counted from the start of
// the document, as a line of the file.
func fileLines(msg string, start int) string {
	return yamlLine.ReplaceAllStringFunc(msg, func(m string) string {
		n, err := strconv.Atoi(m[len("line "):])
		if err != nil {
			return m
		}
		return fmt.Sprintf("line %d", n+start-1)
	})
}

func jsonErr(err error) string {
	s := err.Error()
	s = strings.TrimPrefix(s, "json: ")
	return s
}
