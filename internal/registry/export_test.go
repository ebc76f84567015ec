package registry

// WithRetryBackoff lets tests retry without waiting.
var WithRetryBackoff = withRetryBackoff
