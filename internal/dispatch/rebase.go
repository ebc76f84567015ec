package dispatch

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/imagecascade/cascade/internal/exitcode"
	"github.com/imagecascade/cascade/internal/imageref"
	"github.com/imagecascade/cascade/internal/outbound"
	"github.com/imagecascade/cascade/internal/registry"
	"github.com/imagecascade/cascade/internal/retry"
)

// ErrOldBaseUnknown: a rebase needs the base the dependent was built on,
// read from its org.opencontainers.image.base.digest annotation (or label).
var ErrOldBaseUnknown = errors.New("cannot rebase: the old base is unknown")

// RebaseOptions configure a Rebase dispatcher.
type RebaseOptions struct {
	// Transport is the base HTTP transport (remote.DefaultTransport when
	// nil); the CLI passes the one that enforces the registry allowlist.
	Transport http.RoundTripper
	// Keychain supplies registry credentials (authn.DefaultKeychain when
	// nil).
	Keychain authn.Keychain
	// Insecure reports whether a registry host is reached over plain HTTP.
	Insecure func(host string) bool
	// Policy retries the whole rebase (recomputed from fresh registry
	// state each time) on 408/429/5xx and connection failures.
	Policy retry.Policy
}

// Rebase rebuilds a dependent without a build: its layers above the old
// base are put on the new base's layers (mutate.Rebase), its base
// annotations are updated, and the result is pushed under the dependent's
// tag. The Outcome's NewDigest is the pushed digest: the rebased image is
// itself an updated image whose own dependents the caller cascades.
type Rebase struct {
	o RebaseOptions
}

var _ Dispatcher = (*Rebase)(nil)

// NewRebase returns a Rebase dispatcher.
func NewRebase(o RebaseOptions) *Rebase {
	if o.Transport == nil {
		o.Transport = remote.DefaultTransport
	}
	// Every request under the outbound policy (a no-op when the transport
	// already is): redirects, the redactor, the request log.
	o.Transport = outbound.Transport(o.Transport)
	if o.Keychain == nil {
		o.Keychain = authn.DefaultKeychain
	}
	return &Rebase{o: o}
}

// Kind returns "rebase".
func (r *Rebase) Kind() string { return "rebase" }

// Dispatch rebases t's image onto t.Base and pushes it.
func (r *Rebase) Dispatch(ctx context.Context, t Target) Outcome {
	o := Outcome{Name: t.Name, Kind: r.Kind(), Key: t.Key()}
	if t.Base.Ref.Digest == "" {
		return o.fail(exitcode.AsInvalid(errors.New("cannot rebase: the new base digest is missing")))
	}
	var res rebaseResult
	n, err := retry.DoAttempts(ctx, r.o.Policy, func(ctx context.Context) error {
		var err error
		res, err = r.rebase(ctx, t)
		return classifyRegistry(err)
	})
	o.Attempts = n
	if err != nil {
		return o.fail(fmt.Errorf("rebasing %s: %w", t.Image.Short(), err))
	}
	if res.current {
		o.Status, o.Detail = StatusSkipped, "already built on "+t.Base.Ref.WithDigest(t.Base.Ref.Digest)
		return o
	}
	o.Status, o.NewDigest = StatusDispatched, res.digest
	o.Detail = fmt.Sprintf("rebased onto %s@%s, pushed %s", t.Base.Ref.Short(), t.Base.Ref.Digest.Short(), t.Image.WithDigest(res.digest))
	return o
}

type rebaseResult struct {
	digest  imageref.Digest
	current bool
}

func (r *Rebase) ref(s string) (name.Reference, error) {
	var opts []name.Option
	ref, err := name.ParseReference(s)
	if err != nil {
		return nil, exitcode.AsInvalid(fmt.Errorf("parsing %q: %w", s, err))
	}
	if r.o.Insecure != nil && r.o.Insecure(ref.Context().RegistryStr()) {
		opts = append(opts, name.Insecure)
		ref, err = name.ParseReference(s, opts...)
		if err != nil {
			return nil, exitcode.AsInvalid(fmt.Errorf("parsing %q: %w", s, err))
		}
	}
	return ref, nil
}

func (r *Rebase) remote(ctx context.Context, extra ...remote.Option) []remote.Option {
	return append([]remote.Option{remote.WithContext(ctx), remote.WithTransport(r.o.Transport), remote.WithAuthFromKeychain(r.o.Keychain)}, extra...)
}

func (r *Rebase) rebase(ctx context.Context, t Target) (rebaseResult, error) {
	tag := t.Image.EffectiveTag()
	if tag == "" {
		return rebaseResult{}, exitcode.AsInvalid(fmt.Errorf("cannot rebase %s: it has no tag to push to", t.Image.Original))
	}
	depRef, err := r.ref(t.Image.Name() + ":" + tag)
	if err != nil {
		return rebaseResult{}, err
	}
	desc, err := remote.Get(depRef, r.remote(ctx)...)
	if err != nil {
		return rebaseResult{}, fmt.Errorf("reading %s: %w", depRef, err)
	}
	if desc.MediaType.IsIndex() {
		return rebaseResult{}, exitcode.AsInvalid(fmt.Errorf("cannot rebase %s: it is a multi-arch index; rebase rebuilds single-platform images only", depRef))
	}
	orig, err := desc.Image()
	if err != nil {
		return rebaseResult{}, fmt.Errorf("reading %s: %w", depRef, err)
	}
	m, err := orig.Manifest()
	if err != nil {
		return rebaseResult{}, fmt.Errorf("reading the manifest of %s: %w", depRef, err)
	}
	cf, err := orig.ConfigFile()
	if err != nil {
		return rebaseResult{}, fmt.Errorf("reading the config of %s: %w", depRef, err)
	}
	oldDigest := m.Annotations[registry.BaseDigestKey]
	if oldDigest == "" {
		oldDigest = cf.Config.Labels[registry.BaseDigestKey]
	}
	if oldDigest == "" {
		return rebaseResult{}, exitcode.AsInvalid(fmt.Errorf("%w: %s has no %s annotation or label", ErrOldBaseUnknown, depRef, registry.BaseDigestKey))
	}
	old, err := imageref.ParseDigest(oldDigest)
	if err != nil {
		return rebaseResult{}, exitcode.AsInvalid(fmt.Errorf("%w: %s names %q: %w", ErrOldBaseUnknown, registry.BaseDigestKey, oldDigest, err))
	}
	if old == t.Base.Ref.Digest {
		return rebaseResult{current: true}, nil
	}
	platform := v1.Platform{OS: cf.OS, Architecture: cf.Architecture, Variant: cf.Variant}
	oldBase, err := r.image(ctx, t.Base.Ref.Name()+"@"+string(old), platform)
	if err != nil {
		return rebaseResult{}, fmt.Errorf("reading the old base: %w", err)
	}
	newBase, err := r.image(ctx, t.Base.Ref.Name()+"@"+string(t.Base.Ref.Digest), platform)
	if err != nil {
		return rebaseResult{}, fmt.Errorf("reading the new base: %w", err)
	}
	rebased, err := mutate.Rebase(orig, oldBase, newBase)
	if err != nil {
		// go-containerregistry's own message prints the images as Go
		// values; ours names them.
		return rebaseResult{}, exitcode.AsInvalid(fmt.Errorf("cannot rebase %s: its layers do not start with those of the base it names, %s@%s (was it built on that digest?)",
			depRef, t.Base.Ref.Name(), old))
	}
	if rebased, err = r.restamp(rebased, m, t); err != nil {
		return rebaseResult{}, err
	}
	if err := remote.Write(depRef, rebased, r.remote(ctx)...); err != nil {
		return rebaseResult{}, fmt.Errorf("pushing %s: %w", depRef, err)
	}
	d, err := rebased.Digest()
	if err != nil {
		return rebaseResult{}, fmt.Errorf("digest of the rebased image: %w", err)
	}
	nd, err := imageref.ParseDigest(d.String())
	if err != nil {
		return rebaseResult{}, err
	}
	return rebaseResult{digest: nd}, nil
}

// restamp gives the rebased image the original's manifest media type and
// annotations, with the base annotations (and labels, when the original
// had them) naming the new base.
func (r *Rebase) restamp(img v1.Image, orig *v1.Manifest, t Target) (v1.Image, error) {
	newDigest, baseName := string(t.Base.Ref.Digest), t.Base.Ref.Short()
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("reading the rebased config: %w", err)
	}
	if _, ok := cf.Config.Labels[registry.BaseDigestKey]; ok {
		cf = cf.DeepCopy()
		cf.Config.Labels[registry.BaseDigestKey] = newDigest
		cf.Config.Labels[registry.BaseNameKey] = baseName
		if img, err = mutate.ConfigFile(img, cf); err != nil {
			return nil, fmt.Errorf("updating the rebased config: %w", err)
		}
	}
	if orig.MediaType != "" {
		img = mutate.MediaType(img, orig.MediaType)
		if orig.MediaType == types.OCIManifestSchema1 {
			img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
		}
	}
	ann := maps.Clone(orig.Annotations)
	if ann == nil {
		ann = map[string]string{}
	}
	ann[registry.BaseDigestKey] = newDigest
	ann[registry.BaseNameKey] = baseName
	out, ok := mutate.Annotations(img, ann).(v1.Image)
	if !ok {
		return nil, errors.New("annotating the rebased image: not an image")
	}
	return out, nil
}

// image fetches ref; when it is an index, the manifest for platform.
func (r *Rebase) image(ctx context.Context, s string, platform v1.Platform) (v1.Image, error) {
	ref, err := r.ref(s)
	if err != nil {
		return nil, err
	}
	img, err := remote.Image(ref, r.remote(ctx, remote.WithPlatform(platform))...)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", ref, err)
	}
	return img, nil
}

// classifyRegistry marks registry answers worth another try for the retry
// policy; 401/403/404 are final.
func classifyRegistry(err error) error {
	var te *transport.Error
	if errors.As(err, &te) {
		he := &retry.HTTPError{Status: te.StatusCode, Err: err}
		if !he.Retryable() && exitcode.Of(err) == exitcode.Internal {
			he.Err = exitcode.AsInvalid(err)
		}
		return he
	}
	return err
}
