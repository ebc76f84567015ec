// Package kuberest prepares the client-go REST config with which cascade
// speaks JSON to a Kubernetes API server with its own small wire types
// (the Tekton dispatcher, Tekton discovery, the cluster target), rather
// than k8s.io/api's types or a generated clientset, which the binary does
// not link (cmd/cascade's TestBinaryLinksNoTektonTypes).
package kuberest

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/client-go/rest"

	"github.com/imagecascade/cascade/internal/outbound"
)

// StatusCodecs decode the API server's answers: an error's metav1.Status
// becomes an *apierrors.StatusError with its reason (AlreadyExists,
// Forbidden, Invalid, Conflict, …); objects are read by the callers.
var StatusCodecs = func() runtime.NegotiatedSerializer {
	scheme := runtime.NewScheme()
	metav1.AddToGroupVersion(scheme, schema.GroupVersion{Version: "v1"})
	return serializer.NewCodecFactory(scheme).WithoutConversion()
}()

// Config returns a copy of cfg for JSON under /apis: the outbound policy
// closest to the wire (below client-go's authentication, so it sees every
// credential sent and refuses a redirected mutation), the outbound
// timeout unless cfg has one, client-go's user agent unless cfg has one,
// and StatusCodecs. cfg itself is not changed; QPS, Burst and the group
// version are the caller's.
func Config(cfg *rest.Config) *rest.Config {
	cfg = rest.CopyConfig(cfg)
	cfg.APIPath = "/apis"
	cfg.ContentType = "application/json"
	cfg.NegotiatedSerializer = StatusCodecs
	if cfg.UserAgent == "" {
		cfg.UserAgent = rest.DefaultKubernetesUserAgent()
	}
	cfg.Wrap(outbound.Transport)
	if cfg.Timeout == 0 {
		cfg.Timeout = outbound.DefaultTimeout
	}
	return cfg
}
