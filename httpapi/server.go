package httpapi

import (
	"bytes"
	"context"
	"crypto/rand"
	_ "embed"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/recover"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cdp-project/cdp/access"
	"github.com/cdp-project/cdp/auth"
	"github.com/cdp-project/cdp/crm"
	"github.com/cdp-project/cdp/ingest"
	"github.com/cdp-project/cdp/profiling"
	"github.com/cdp-project/cdp/requests"
	"github.com/cdp-project/cdp/resolver"
)

//go:embed openapi.yaml
var openapiYAML []byte

// Check is one readiness check: it returns nil when its part is ready.
type Check struct {
	Name  string
	Check func(ctx context.Context) error
}

// Config holds what the server is built from: services, never stores.
// Every field is required unless marked optional.
type Config struct {
	Log *slog.Logger
	// Tokens authenticates API tokens.
	Tokens *auth.Tokens
	// Importer is the template of the import pipeline; each request runs a
	// copy with its own actor.
	Importer ingest.Importer
	// Events is the template of the interactions' import pipeline.
	Events crm.Importer
	// Ready lists the readiness checks of /readyz.
	Ready []Check
	// Registry receives the server's metrics and is served at /metrics.
	Registry *prometheus.Registry
	// MaxBodyBytes bounds request bodies (default 16 MiB).
	MaxBodyBytes int
	// MaxBatchRecords bounds the records of one ingest request (default 10000).
	MaxBatchRecords int
	// Access is the read path: every route that returns personal data, and
	// the steward, consent, catalogue and audit routes, go through it.
	Access *access.Service
	// Requests is the data-subject request service.
	Requests *requests.Service
	// Profiling computes traits and segments and activates them.
	Profiling *profiling.Service
	// Resolver links ingested records before the ingest request answers.
	Resolver Resolver
	// Sessions checks customers' Ory Kratos sessions (optional: without
	// it, /v1/me answers 503).
	Sessions SessionChecker
	// Pages are the web pages served beside the API (web.Site;
	// optional).
	Pages Pages
}

// Pages adds web pages' routes to the server.
type Pages interface {
	Mount(r fiber.Router)
}

// Resolver links just-written records into profiles (resolver.Resolver).
type Resolver interface {
	// Link links the records a write created or changed, and those it
	// found unchanged but in no profile.
	Link(ctx context.Context, actor string, changed, unchanged []uuid.UUID) (*resolver.Report, error)
}

// Server is the HTTP API.
type Server struct {
	app       *fiber.App
	serving   sync.Mutex
	stopped   bool           // Shutdown was called
	listeners []net.Listener // passed to Serve
	// running is every request's context: cancelled when a shutdown's
	// time is up, so that requests still running stop their work.
	running    context.Context
	cutOff     context.CancelFunc
	log        *slog.Logger
	tokens     *auth.Tokens
	importer   ingest.Importer
	events     crm.Importer
	ready      []Check
	maxBody    int
	maxRecords int
	metrics    *metrics
	access     *access.Service
	requests   *requests.Service
	profiling  *profiling.Service
	resolver   Resolver
	sessions   SessionChecker
	pages      Pages
}

// New builds the server and its routes.
func New(cfg Config) *Server {
	s := &Server{
		log:        cfg.Log,
		tokens:     cfg.Tokens,
		importer:   cfg.Importer,
		events:     cfg.Events,
		ready:      cfg.Ready,
		maxBody:    cfg.MaxBodyBytes,
		maxRecords: cfg.MaxBatchRecords,
		metrics:    newMetrics(cfg.Registry),
		access:     cfg.Access,
		requests:   cfg.Requests,
		profiling:  cfg.Profiling,
		resolver:   cfg.Resolver,
		sessions:   cfg.Sessions,
		pages:      cfg.Pages,
	}
	s.running, s.cutOff = context.WithCancel(context.Background())
	if s.maxBody <= 0 {
		s.maxBody = 16 << 20
	}
	if s.maxRecords <= 0 {
		s.maxRecords = 10000
	}
	s.app = fiber.New(fiber.Config{
		AppName:               "cdp",
		BodyLimit:             s.maxBody,
		ErrorHandler:          s.errorHandler,
		DisableStartupMessage: true,
		ReadTimeout:           30 * time.Second,
		WriteTimeout:          60 * time.Second,
		IdleTimeout:           120 * time.Second,
	})
	s.app.Use(s.requestContext)
	// A panic in a handler answers 500 and is logged; it never takes the
	// process down.
	s.app.Use(recover.New(recover.Config{EnableStackTrace: true, StackTraceHandler: func(c *fiber.Ctx, e any) {
		s.log.Error("handler panicked", slog.String("request_id", requestID(c)), slog.String("route", c.Route().Path),
			slog.String("panic", fmt.Sprintf("%T", e)))
	}}))
	s.routes(cfg.Registry)
	return s
}

func (s *Server) routes(reg *prometheus.Registry) {
	s.app.Get("/healthz", s.healthz)
	s.app.Get("/readyz", s.readyz)
	s.app.Get("/metrics", metricsHandler(reg))
	s.app.Get("/openapi.yaml", func(c *fiber.Ctx) error {
		c.Set(fiber.HeaderContentType, "application/yaml")
		return c.Send(openapiYAML)
	})

	v1 := s.app.Group("/v1", textualQuery, noStore)
	v1.Post("/records", s.authenticate(auth.RoleIngest), s.postRecords)
	v1.Post("/events", s.authenticate(auth.RoleIngest), s.postEvents)

	// The read path: the policy decides who may do what with which
	// profile, so these only require a valid token.
	staff := s.authenticate("")
	v1.Get("/profiles", staff, s.findProfiles)
	v1.Post("/profiles/merge", staff, s.mergeProfiles)
	v1.Get("/profiles/:id", staff, s.getProfile)
	v1.Get("/profiles/:id/timeline", staff, s.getTimeline)
	v1.Get("/profiles/:id/traits", staff, s.getTraits)
	v1.Get("/profiles/:id/records", staff, s.getProfileRecords)
	v1.Get("/profiles/:id/lineage", staff, s.getProfileLineage)
	v1.Post("/profiles/:id/split", staff, s.splitProfile)
	v1.Get("/review", staff, s.listReview)
	v1.Post("/review/:pair", staff, s.decideReview)
	v1.Get("/disputes", staff, s.listDisputes)
	v1.Post("/disputes/:id/settle", staff, s.settleDispute)
	v1.Get("/audit", staff, s.getAudit)

	// Consent: departments record what they collected, the DPO proves it
	// and keeps the catalogue of purposes and notices.
	v1.Get("/profiles/:id/consents", staff, s.getProfileConsents)
	v1.Post("/profiles/:id/consents", staff, s.postProfileConsent)
	v1.Get("/profiles/:id/consents/proof", staff, s.getConsentProof)
	v1.Get("/consents/conflicts", staff, s.getConflicts)
	v1.Get("/purposes", staff, s.getPurposes)
	v1.Post("/purposes", staff, s.postPurpose)
	v1.Put("/purposes/:id", staff, s.putPurpose)
	v1.Get("/purposes/:id/notices", staff, s.getNotices)
	v1.Post("/purposes/:id/notices", staff, s.postNotice)

	// Data-subject requests, for the DPO.
	v1.Post("/requests", staff, s.postRequest)
	v1.Get("/requests", staff, s.listRequests)
	v1.Get("/requests/:id", staff, s.getRequest)
	v1.Get("/requests/:id/export", staff, s.getExport)
	v1.Post("/requests/:id/:action", staff, s.decideRequest)
	v1.Post("/notices/:id/ack", staff, s.ackNotice)
	v1.Post("/suppressions/lift", staff, s.liftSuppression)

	// Customers, with their Ory Kratos session.
	me := v1.Group("/me", s.customer)
	me.Get("", s.getMe)
	me.Get("/records", s.getMyRecords)
	me.Get("/consents", s.getMyConsents)
	me.Get("/consents/history", s.getMyConsentHistory)
	me.Put("/consents/:purpose", s.putMyConsent)
	me.Post("/requests", s.postMyRequest)
	me.Get("/requests", s.listMyRequests)
	me.Get("/requests/:id", s.getMyRequest)
	me.Get("/requests/:id/export", s.getExport)
	me.Post("/requests/:id/withdraw", s.withdrawMyRequest)
	me.Post("/records/:id/dispute", s.disputeMyRecord)
	me.Get("/disputes", s.listMyDisputes)
	me.Get("/timeline", s.getMyTimeline)
	me.Get("/traits", s.getMyTraits)

	// Customer relationships: traits, segments and their activation.
	v1.Post("/traits/compute", staff, s.computeTraits)
	v1.Get("/traits/computations/:id", staff, s.getComputation)
	v1.Get("/crm/charts", staff, s.getCharts)
	v1.Get("/segments", staff, s.listSegments)
	v1.Post("/segments", staff, s.postSegment)
	v1.Post("/segments/preview", staff, s.previewSegment)
	v1.Get("/segments/:name", staff, s.getSegment)
	v1.Delete("/segments/:name", staff, s.deleteSegment)
	v1.Post("/segments/:name/refresh", staff, s.refreshSegment)
	v1.Get("/segments/:name/members", staff, s.listSegmentMembers)
	v1.Post("/segments/:name/members/:profile/review", staff, s.reviewSegmentMember)
	v1.Post("/segments/:name/activate", staff, s.activateSegment)

	if s.pages != nil {
		s.pages.Mount(s.app)
	}
}

// Serve answers requests on ln until Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	s.serving.Lock()
	if s.stopped {
		s.serving.Unlock()
		ln.Close()
		return nil
	}
	s.listeners = append(s.listeners, ln)
	s.serving.Unlock()
	return s.app.Listener(ln)
}

// Shutdown stops accepting connections and waits for running requests to
// finish, at most until ctx ends; then the requests still running are
// cancelled (their contexts end) and the error says so. A Serve that has
// not begun yet, or is still on its way into fiber (which ignores a
// shutdown that comes before it serves), returns at once.
func (s *Server) Shutdown(ctx context.Context) error {
	s.serving.Lock()
	s.stopped = true
	lns := s.listeners
	s.serving.Unlock()
	err := s.app.ShutdownWithContext(ctx)
	for _, ln := range lns {
		ln.Close() // fiber closed it if it was serving; if not, its accept now fails
	}
	s.cutOff()
	return err
}

// App exposes the fiber app to tests in this package's callers that drive
// requests in memory (app.Test).
func (s *Server) App() *fiber.App { return s.app }

const localRequestID = "request_id"

// requestContext gives every request an id (the caller's X-Request-ID when
// it is sane), logs it once done, and counts it.
func (s *Server) requestContext(c *fiber.Ctx) error {
	start := time.Now()
	id := c.Get("X-Request-ID")
	if !saneRequestID(id) {
		id = newRequestID()
	} else {
		id = string([]byte(id)) // fiber reuses header buffers
	}
	c.Locals(localRequestID, id)
	c.Set("X-Request-ID", id)
	c.SetUserContext(s.running) // ends when a shutdown gives up waiting
	err := c.Next()
	if err != nil {
		if herr := s.errorHandler(c, err); herr != nil {
			s.log.Error("write error response", slog.String("request_id", id), slog.String("error", herr.Error()))
		}
	}
	status := c.Response().StatusCode()
	// Copies: fiber's strings point into buffers it reuses for the next
	// request, and the metric keeps its label values for good (a series
	// labelled "GETT" was seen, and duplicate series broke the scrape).
	route, method := strings.Clone(c.Route().Path), strings.Clone(c.Method())
	elapsed := time.Since(start)
	s.metrics.requests.WithLabelValues(method, route, strconv.Itoa(status)).Inc()
	s.metrics.duration.WithLabelValues(method, route).Observe(elapsed.Seconds())
	attrs := []slog.Attr{
		slog.String("request_id", id),
		slog.String("method", method),
		slog.String("route", route), // the pattern: no ids, no query string
		slog.Int("status", status),
		slog.Float64("ms", float64(elapsed.Microseconds())/1000),
	}
	if p, ok := c.Locals(localPrincipal).(auth.Principal); ok {
		attrs = append(attrs, slog.String("principal", p.Actor()))
	}
	s.log.LogAttrs(c.UserContext(), slog.LevelInfo, "request", attrs...)
	return nil
}

func newRequestID() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func saneRequestID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

func requestID(c *fiber.Ctx) string {
	id, _ := c.Locals(localRequestID).(string)
	return id
}

// noStore keeps every answer of the API out of caches: they carry
// personal data, tokens or the proof of a request, and a shared browser
// or a proxy must not keep them.
func noStore(c *fiber.Ctx) error {
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.Next()
}

// textualQuery refuses a query string whose names or values are not text:
// invalid UTF-8 or a NUL can be stored nowhere (PostgreSQL refuses both),
// so they are a client's error, answered before any handler runs.
func textualQuery(c *fiber.Ctx) error {
	bad := ""
	c.Context().QueryArgs().VisitAll(func(k, v []byte) {
		if bad == "" && (!utf8.Valid(k) || !utf8.Valid(v) || bytes.IndexByte(k, 0) >= 0 || bytes.IndexByte(v, 0) >= 0) {
			bad = strings.ToValidUTF8(strings.ReplaceAll(string(k), "\x00", ""), "")
		}
	})
	if bad != "" {
		return problem(fiber.StatusBadRequest, "invalid-request", "Invalid request",
			fmt.Sprintf("query parameter %q: not valid UTF-8 text, or holds a NUL", clipString(bad, 64)))
	}
	return c.Next()
}
