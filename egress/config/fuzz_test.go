package config

import (
	"os"
	"testing"
)

// FuzzDecode feeds arbitrary bytes through document splitting, decoding and
// compilation: it must never panic.
func FuzzDecode(f *testing.F) {
	for _, name := range []string{"testdata/basic.yaml", "testdata/dr.yaml", "testdata/list.yaml", "testdata/errors/serviceentry.yaml", "testdata/errors/authz.yaml", "testdata/errors/syntax.yaml"} {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := &report{}
		var objs []*object
		decodeFile("fuzz.yaml", data, r, func(o *object) { objs = append(objs, o) })
		newCompiler(Options{}.withDefaults(), r, nil).compile(objs)
	})
}

func TestSplitDocuments(t *testing.T) {
	in := "# header\n---\na: 1\n---\n# only a comment\n---\n\n--- # trailing comment\nb: 2\r\n---\nc: 3"
	docs := splitDocuments([]byte(in))
	want := []struct {
		n, line int
		data    string
	}{{1, 3, "a: 1\n"}, {4, 9, "b: 2\r\n"}, {5, 11, "c: 3"}}
	if len(docs) != len(want) {
		t.Fatalf("got %d documents: %+v", len(docs), docs)
	}
	for i, w := range want {
		if docs[i].N != w.n || docs[i].Line != w.line || string(docs[i].Data) != w.data {
			t.Errorf("doc %d = {%d %d %q}, want %+v", i, docs[i].N, docs[i].Line, docs[i].Data, w)
		}
	}
}
