package config

import (
	"fmt"
	"maps"
	"os"
	"slices"
)

// APISource is the File of every object read from the API server, as
// problems and warnings name it.
const APISource = "kubernetes"

// APIObject is one resource read from the Kubernetes API server, as JSON
// with apiVersion and kind set.
type APIObject struct {
	JSON []byte
	UID  string
}

// Skipped is an API resource left out of a Snapshot because it is
// invalid, with what is wrong with it. The rest of the configuration is
// served without it.
type Skipped struct {
	Index    int    // into the APIObjects given to Compile
	Resource string // "ServiceEntry default/cnn"
	Problems []Problem
}

// maxSkipRounds bounds how many times Compile drops invalid API resources
// and compiles again: dropping one can only remove problems, so a second
// round is nearly always the last.
const maxSkipRounds = 5

// Compile reads the files in paths and the API server's objects and
// compiles them into one Snapshot.
//
// A problem in a file, or one that names no resource, rejects the whole
// configuration (an *Error, no Snapshot), as Load does: the last good
// configuration keeps serving. An API resource with problems is left out
// and reported in skipped; the rest is compiled again without it. The same
// kind, namespace and name both in a file and from the API server is a
// problem of the API resource, which is left out: the file's serves.
func Compile(paths []string, api []APIObject, opts Options) (snap *Snapshot, skipped []Skipped, err error) {
	opts = opts.withDefaults()
	fr := &report{}
	fileObjs, read := readFiles(paths, fr)
	if err := fr.err(); err != nil {
		return nil, nil, err
	}
	apiObjs, decodeSkipped := decodeAPI(api)
	skipped = decodeSkipped
	skipped = append(skipped, duplicates(fileObjs, apiObjs)...)
	dropped := map[int]bool{}
	for _, s := range skipped {
		dropped[s.Index] = true
	}
	// Secrets looked for by resources skipped in an earlier round stay
	// wanted: their Secret arriving may be what makes them valid.
	refs := map[string]bool{}
	for round := 0; ; round++ {
		objs := slices.Clone(fileObjs)
		var idx []int // objs[len(fileObjs)+i] is api[idx[i]]
		for i, o := range apiObjs {
			if o != nil && !dropped[i] {
				objs = append(objs, o)
				idx = append(idx, i)
			}
		}
		r := &report{}
		snap := newCompiler(opts, r, read).compile(objs)
		for _, ref := range snap.SecretRefs {
			refs[ref] = true
		}
		if len(r.problems) == 0 {
			snap.SecretRefs = slices.Sorted(maps.Keys(refs))
			return snap, skipped, nil
		}
		byRes := map[string]int{} // Resource of an API object -> api index
		for _, i := range idx {
			byRes[apiObjs[i].Resource()] = i
		}
		var fatal []Problem
		newly := map[int][]Problem{}
		for _, p := range r.problems {
			i, ok := byRes[p.Resource]
			if p.File != APISource || !ok {
				fatal = append(fatal, p)
				continue
			}
			newly[i] = append(newly[i], p)
		}
		if len(fatal) > 0 || round == maxSkipRounds {
			return nil, skipped, &Error{Problems: r.problems}
		}
		for _, i := range slices.Sorted(maps.Keys(newly)) {
			dropped[i] = true
			skipped = append(skipped, Skipped{Index: i, Resource: apiObjs[i].Resource(), Problems: newly[i]})
		}
	}
}

// readFiles decodes every file in paths, a later document replacing an
// earlier one of the same identity (kubectl apply).
func readFiles(paths []string, r *report) (objs []*object, read []string) {
	index := map[string]int{}
	add := func(o *object) {
		if i, ok := index[o.key()]; ok {
			objs[i] = o
			return
		}
		index[o.key()] = len(objs)
		objs = append(objs, o)
	}
	for _, f := range expandPaths(paths, r) {
		data, err := os.ReadFile(f)
		if err != nil {
			r.problem(f, "", "", "%v", err)
			continue
		}
		read = append(read, f)
		decodeFile(f, data, r, add)
	}
	return objs, read
}

// decodeAPI decodes the API server's objects; apiObjs[i] is nil for one
// that does not decode, which is reported in skipped.
func decodeAPI(api []APIObject) (apiObjs []*object, skipped []Skipped) {
	apiObjs = make([]*object, len(api))
	for i, a := range api {
		r := &report{}
		var got *object
		decodeObject(APISource, "", a.JSON, r, func(o *object) { got = o })
		if len(r.problems) > 0 || got == nil {
			res := "resource " + fmt.Sprint(i)
			if got != nil {
				res = got.Resource()
			}
			skipped = append(skipped, Skipped{Index: i, Resource: res, Problems: r.problems})
			continue
		}
		got.Doc = ""
		apiObjs[i] = got
	}
	return apiObjs, skipped
}

// duplicates reports every API object that a file defines too.
func duplicates(fileObjs, apiObjs []*object) []Skipped {
	inFiles := map[string]*object{}
	for _, o := range fileObjs {
		inFiles[o.key()] = o
	}
	var out []Skipped
	for i, a := range apiObjs {
		if a == nil {
			continue
		}
		f, ok := inFiles[a.key()]
		if !ok {
			continue
		}
		where := f.File
		if f.Doc != "" {
			where += " " + f.Doc
		}
		out = append(out, Skipped{Index: i, Resource: a.Resource(), Problems: []Problem{{File: APISource, Resource: a.Resource(),
			Msg: fmt.Sprintf("defined twice: in the API server and in %s; the file's copy is served, this one is not (delete one of them)", where)}}})
	}
	return out
}
