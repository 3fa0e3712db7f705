package kube

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
)

// objectJSON encodes an informer's object as a file would hold it, with
// apiVersion and kind (informers' typed objects leave TypeMeta empty).
// Istio's spec types encode themselves with protojson, as kubectl shows them.
func objectJSON(apiVersion, kind string, obj any) ([]byte, error) {
	j, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	if len(j) < 2 || j[0] != '{' {
		return nil, fmt.Errorf("not a JSON object")
	}
	var b bytes.Buffer
	b.Grow(len(j) + len(apiVersion) + len(kind) + 32)
	fmt.Fprintf(&b, `{"apiVersion":%q,"kind":%q`, apiVersion, kind)
	if len(j) > 2 {
		b.WriteByte(',')
	}
	b.Write(j[1:])
	return b.Bytes(), nil
}

// trimObject drops what egressgw never reads before an object is stored:
// managedFields is often most of an object's size.
func trimObject(obj any) (any, error) {
	if m, ok := obj.(metav1.Object); ok {
		m.SetManagedFields(nil)
		if a := m.GetAnnotations(); a != nil {
			delete(a, "kubectl.kubernetes.io/last-applied-configuration")
		}
	}
	return obj, nil
}

// sortedList lists a store by namespace/name, for a compile whose order
// does not depend on map iteration.
func sortedList(s cache.Store) []any {
	objs := s.List()
	key := func(o any) string {
		if m, ok := o.(metav1.Object); ok {
			return m.GetNamespace() + "/" + m.GetName()
		}
		return ""
	}
	sort.Slice(objs, func(i, j int) bool { return key(objs[i]) < key(objs[j]) })
	return objs
}
