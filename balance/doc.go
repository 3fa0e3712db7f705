// Package balance picks one endpoint of a cluster for each new request or
// connection and keeps the cluster's outlier state: Istio's
// DestinationRule trafficPolicy.loadBalancer and outlierDetection.
//
// It is pure: no network, no logging; the clock and the random numbers are
// the caller's (Config.Now, Config.Rand, with working defaults). A Set
// knows its endpoints by index only (0..n-1); the caller keeps their
// addresses. A Set is safe for concurrent use. Pick, Begin and End take no
// lock and allocate nothing while no endpoint is ejected or returning;
// only an ejection, and an endpoint's return after its ejection time, take
// the Set's mutex.
//
// Outlier detection follows Envoy's consecutive-error detectors as Istio
// configures them: an endpoint is ejected at once when a threshold is
// reached (as Envoy does for consecutive errors), and it returns lazily,
// on the first Pick (or Ejected) after its ejection time has passed,
// instead of at Envoy's next interval sweep, which may come up to one
// interval later. An ejection is refused when it would put more than
// MaxEjectionPercent of the Set out (Envoy's rule, which with Istio's
// default of 10% ejects nothing in a Set of fewer than 10 endpoints). With
// every endpoint out, Pick chooses among all of them (Envoy's panic mode).
package balance
