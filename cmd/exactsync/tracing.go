package main

import (
	"cmp"
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// The OpenTelemetry variables that decide whether exactsync exports traces. They are the
// SDK's own (the OpenTelemetry specification's "general SDK configuration"); the exporter
// and the SDK read the others (OTEL_EXPORTER_OTLP_HEADERS, OTEL_TRACES_SAMPLER,
// OTEL_RESOURCE_ATTRIBUTES, OTEL_BSP_*, …) themselves.
const (
	envOTelSDKDisabled       = "OTEL_SDK_DISABLED"
	envOTelTracesExporter    = "OTEL_TRACES_EXPORTER"
	envOTelEndpoint          = "OTEL_EXPORTER_OTLP_ENDPOINT"
	envOTelTracesEndpoint    = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
	envOTelProtocol          = "OTEL_EXPORTER_OTLP_PROTOCOL"
	envOTelTracesProtocol    = "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"
	defaultTraceServiceName  = "exactsync"
	traceShutdownGracePeriod = 5 * time.Second
)

// tracingWanted reports whether the environment asks for traces: OTEL_TRACES_EXPORTER=otlp,
// or an OTLP endpoint with OTEL_TRACES_EXPORTER unset; never with OTEL_SDK_DISABLED=true
// or OTEL_TRACES_EXPORTER=none. An exporter or protocol exactsync does not ship is a
// usage error that names the ones it does.
func tracingWanted(getenv func(string) string) (bool, error) {
	if strings.EqualFold(strings.TrimSpace(getenv(envOTelSDKDisabled)), "true") {
		return false, nil
	}
	exporter := strings.ToLower(strings.TrimSpace(getenv(envOTelTracesExporter)))
	switch exporter {
	case "none":
		return false, nil
	case "", "otlp":
	default:
		return false, fmt.Errorf("%s=%s: exactsync exports traces over OTLP only; set it to otlp (with %s) or none",
			envOTelTracesExporter, getenv(envOTelTracesExporter), envOTelEndpoint)
	}
	if exporter == "" && getenv(envOTelEndpoint) == "" && getenv(envOTelTracesEndpoint) == "" {
		return false, nil
	}
	for _, name := range []string{envOTelTracesEndpoint, envOTelEndpoint} {
		raw := strings.TrimSpace(getenv(name))
		if raw == "" {
			continue
		}
		if u, err := url.Parse(raw); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return false, fmt.Errorf("%s is not a URL such as http://collector:4318; set the OTLP/HTTP address of the collector", name)
		}
	}
	for _, name := range []string{envOTelTracesProtocol, envOTelProtocol} {
		switch p := strings.TrimSpace(getenv(name)); p {
		case "", "http/protobuf":
		default:
			return false, fmt.Errorf("%s=%s: exactsync sends traces with OTLP over HTTP (http/protobuf) only; unset it or set http/protobuf, and point %s at the collector's HTTP port (4318)",
				name, p, envOTelEndpoint)
		}
	}
	return true, nil
}

// startTracing returns the TracerProvider of the command's spans, exporting them with
// OTLP over HTTP in batches, when the environment asks for traces (see tracingWanted),
// and a stop function that sends the spans still in the batch; a nil provider and a stop
// that does nothing otherwise. The exporter reads its endpoint, headers, timeout and
// TLS from the standard OTEL_EXPORTER_OTLP_* variables; the resource is
// service.name=exactsync (OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES override it)
// with the version. Export failures are logged as warnings.
func startTracing(ctx context.Context, getenv func(string) string, log zerolog.Logger) (trace.TracerProvider, func(), error) {
	wanted, err := tracingWanted(getenv)
	if err != nil || !wanted {
		return nil, func() {}, err
	}
	var opts []otlptracehttp.Option
	if u := traceEndpoint(getenv); u != "" {
		opts = append(opts, otlptracehttp.WithEndpointURL(u))
	}
	exp, err := otlptracehttp.New(ctx, opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("configuring the trace exporter from the OTEL_EXPORTER_OTLP_* variables: %w", err)
	}
	res, err := resource.New(ctx,
		resource.WithAttributes(attribute.String("service.name", defaultTraceServiceName),
			attribute.String("service.version", cmp.Or(version, "devel"))),
		resource.WithFromEnv(), resource.WithTelemetrySDK())
	if err != nil {
		return nil, nil, fmt.Errorf("reading the trace resource from OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES: %w", err)
	}
	// The SDK reports what it cannot export through this process-wide handler only.
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		log.Warn().Str("error", err.Error()).Msg("cannot export traces")
	}))
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	log.Info().Str("service", serviceName(res)).Msg("exporting traces over OTLP")
	return tp, func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), traceShutdownGracePeriod)
		defer cancel()
		if err := tp.Shutdown(sctx); err != nil {
			log.Warn().Str("error", err.Error()).Msg("cannot send the last traces")
		}
	}, nil
}

// traceEndpoint is the URL the spans are sent to, as the specification reads the two
// variables: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT as it is, else OTEL_EXPORTER_OTLP_ENDPOINT
// with /v1/traces appended; "" leaves it to the exporter's default (localhost:4318). The
// exporter would read them itself; reading them here, through the command's environment,
// lets the command's tests point it at a collector of their own.
func traceEndpoint(getenv func(string) string) string {
	if u := strings.TrimSpace(getenv(envOTelTracesEndpoint)); u != "" {
		return u
	}
	if u := strings.TrimSpace(getenv(envOTelEndpoint)); u != "" {
		return strings.TrimRight(u, "/") + "/v1/traces"
	}
	return ""
}

// serviceName is the service.name of res.
func serviceName(res *resource.Resource) string {
	if v, ok := res.Set().Value("service.name"); ok {
		return v.AsString()
	}
	return defaultTraceServiceName
}
