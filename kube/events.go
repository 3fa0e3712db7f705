package kube

import (
	"encoding/json"
	"strings"
	"sync"

	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/record"

	"github.com/egressgw/egressgw/egress/config"
)

// ReasonInvalid is the reason of the Warning Event posted on a resource
// egressgw skipped.
const ReasonInvalid = "EgressgwInvalid"

// eventReporter posts a Warning Event on each API resource a compile
// skipped, naming what is wrong, once per resource version and message:
// compiles repeat for every change anywhere, the Events must not.
type eventReporter struct {
	log         *zap.Logger
	broadcaster record.EventBroadcaster
	recorder    record.EventRecorder

	mu     sync.Mutex
	posted map[string]string // UID -> resourceVersion + message last posted
}

func newEventReporter(client kubernetes.Interface, node string, log *zap.Logger) *eventReporter {
	b := record.NewBroadcaster()
	b.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: client.CoreV1().Events("")})
	return &eventReporter{log: log, broadcaster: b, posted: map[string]string{},
		recorder: b.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "egressgw", Host: node})}
}

func (e *eventReporter) stop() { e.broadcaster.Shutdown() }

// meta is the part of an object an Event refers to.
type meta struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name            string    `json:"name"`
		Namespace       string    `json:"namespace"`
		UID             types.UID `json:"uid"`
		ResourceVersion string    `json:"resourceVersion"`
	} `json:"metadata"`
}

func (e *eventReporter) report(objs []config.APIObject, skipped []config.Skipped) {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := map[string]string{}
	for _, s := range skipped {
		if s.Index < 0 || s.Index >= len(objs) {
			continue
		}
		var m meta
		if err := json.Unmarshal(objs[s.Index].JSON, &m); err != nil || m.Metadata.UID == "" {
			continue
		}
		msgs := make([]string, len(s.Problems))
		for i, p := range s.Problems {
			msgs[i] = strings.TrimPrefix(strings.TrimPrefix(p.String(), config.APISource+": "), s.Resource+": ")
		}
		msg := "not served by egressgw: " + strings.Join(msgs, "; ")
		uid := string(m.Metadata.UID)
		key := m.Metadata.ResourceVersion + "\x00" + msg
		now[uid] = key
		if e.posted[uid] == key {
			continue
		}
		ref := &corev1.ObjectReference{APIVersion: m.APIVersion, Kind: m.Kind, Namespace: m.Metadata.Namespace,
			Name: m.Metadata.Name, UID: m.Metadata.UID, ResourceVersion: m.Metadata.ResourceVersion}
		e.recorder.Event(ref, corev1.EventTypeWarning, ReasonInvalid, msg)
		e.log.Warn("resource from the API server skipped", zap.String("resource", s.Resource), zap.String("problem", msg))
	}
	e.posted = now
}
