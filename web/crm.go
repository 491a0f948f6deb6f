package web

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/cdp-project/cdp/crm"
	"github.com/cdp-project/cdp/derrors"
	"github.com/cdp-project/cdp/profiling"
)

// The customer base for the DPO and marketing: the Pareto curve, the
// lifecycle funnel, value tiers, retention cohorts and segments, of the
// profiled customers only; and the segments' desk.

// curve is the Pareto curve drawn as SVG.
type curve struct {
	Points   string // polyline
	Top20    float64
	VIPShare float64
	VIPX     int
	VIPs     int
}

const (
	plotLeft, plotWidth = 48, 560
	plotTop, plotHeight = 10, 200
)

func paretoCurve(ps []crm.ParetoPoint, m *crm.Model) curve {
	var b strings.Builder
	c := curve{}
	for i, p := range ps {
		x := plotLeft + int(math.Round(p.Customers*plotWidth))
		y := plotTop + plotHeight - int(math.Round(p.Revenue*plotHeight))
		fmt.Fprintf(&b, "%d,%d ", x, y)
		// The share the top 20% bring, read off the curve between the
		// points around 20%.
		if i > 0 && ps[i-1].Customers < 0.2 && p.Customers >= 0.2 {
			prev := ps[i-1]
			c.Top20 = prev.Revenue + (p.Revenue-prev.Revenue)*(0.2-prev.Customers)/(p.Customers-prev.Customers)
		}
	}
	c.Points = strings.TrimSpace(b.String())
	if m != nil && len(ps) > 1 {
		c.VIPShare, c.VIPs = m.Params.VIPShare, m.Params.VIPs
		for _, p := range ps {
			if p.Revenue >= m.Params.VIPShare {
				c.VIPX = plotLeft + int(math.Round(p.Customers*plotWidth))
				break
			}
		}
	}
	return c
}

type cohortRow struct {
	Month     string
	Customers int
	Cells     []cohortCell
}

type cohortCell struct {
	Share float64
	Class string
}

type crmView struct {
	Charts   *profiling.Charts
	Pareto   curve
	Funnel   []bar
	Tiers    []bar
	Segments []bar
	Cohorts  []cohortRow
	Months   []int
	Purposes []string
	Draft    profiling.Draft
	Preview  *profiling.Preview
	Problem  string
	CanRun   bool
}

// customers is the customer base page: charts, and the segments' list
// with a form to preview and create one.
func (s *Site) customers(c *fiber.Ctx, m *staffMember) error {
	v, err := s.crmView(c, m)
	if err != nil {
		return err
	}
	return s.renderStaff(c, fiber.StatusOK, "console_customers", s.locale(c).T("console.customers"), m, v)
}

func (s *Site) crmView(c *fiber.Ctx, m *staffMember) (*crmView, error) {
	ch, err := s.cfg.Profiling.Charts(c.UserContext(), s.staffRequest(c, m, ""))
	if err != nil {
		return nil, err
	}
	l := s.locale(c)
	v := &crmView{Charts: ch, Pareto: paretoCurve(ch.Pareto, ch.Model), CanRun: m.Has("dpo")}
	var labels []string
	var counts []int
	for _, st := range ch.Stages {
		labels, counts = append(labels, l.TOr("stage."+st, st)), append(counts, ch.Lifecycle[st])
	}
	v.Funnel = barsOf(labels, counts)
	labels, counts = nil, nil
	for _, t := range []string{"vip", "regular", "none"} {
		labels, counts = append(labels, l.T("tier."+t)), append(counts, ch.Tiers[t])
	}
	v.Tiers = barsOf(labels, counts)
	labels, counts = nil, nil
	for _, sg := range ch.Segments {
		labels, counts = append(labels, sg.Name), append(counts, sg.Members)
	}
	v.Segments = barsOf(labels, counts)
	for k := 0; k <= 12; k++ {
		v.Months = append(v.Months, k)
	}
	for _, co := range ch.Cohorts {
		row := cohortRow{Month: co.Month.Format("2006-01"), Customers: co.Customers}
		for k := 0; k <= 12; k++ {
			cell := cohortCell{Class: "heat0"}
			if k < len(co.Retained) {
				cell.Share = co.Retained[k]
				cell.Class = fmt.Sprintf("heat%d", min(5, int(math.Ceil(co.Retained[k]*5))))
			}
			row.Cells = append(row.Cells, cell)
		}
		v.Cohorts = append(v.Cohorts, row)
	}
	v.Purposes = s.purposesOf(c, m)
	v.Draft.Purpose = "marketing"
	if !slices.Contains(v.Purposes, v.Draft.Purpose) && len(v.Purposes) > 0 {
		v.Draft.Purpose = v.Purposes[0]
	}
	return v, nil
}

func (s *Site) draft(c *fiber.Ctx) profiling.Draft {
	return profiling.Draft{Name: strings.TrimSpace(strings.Clone(c.FormValue("name"))), Purpose: strings.Clone(c.FormValue("purpose")),
		Condition: strings.Clone(c.FormValue("condition")), Description: strings.Clone(c.FormValue("description")),
		Significant: c.FormValue("significant") == "on"}
}

// segmentForm previews or creates a segment; a condition that does not
// compile comes back with the compiler's message beside the form.
func (s *Site) segmentForm(c *fiber.Ctx, m *staffMember) error {
	if err := s.checkForm(c, m.session); err != nil {
		return err
	}
	d := s.draft(c)
	req := s.staffRequest(c, m, "")
	if c.FormValue("do") == "create" {
		seg, err := s.cfg.Profiling.Save(c.UserContext(), req, d)
		if err == nil {
			return c.Redirect("/console/segments/"+seg.Name, fiber.StatusSeeOther)
		}
		return s.segmentProblem(c, m, d, nil, err)
	}
	p, err := s.cfg.Profiling.Preview(c.UserContext(), req, d)
	return s.segmentProblem(c, m, d, p, err)
}

func (s *Site) segmentProblem(c *fiber.Ctx, m *staffMember, d profiling.Draft, p *profiling.Preview, err error) error {
	status := fiber.StatusOK
	var problem string
	switch {
	case err == nil:
	case errors.Is(err, derrors.ErrInvalid), errors.Is(err, derrors.ErrConflict):
		status, problem = fiber.StatusUnprocessableEntity, err.Error()
	case errors.Is(err, derrors.ErrForbidden):
		status, problem = fiber.StatusForbidden, s.locale(c).T("segments.forbidden")
	default:
		return err
	}
	v, verr := s.crmView(c, m)
	if verr != nil {
		return verr
	}
	v.Draft, v.Preview, v.Problem = d, p, problem
	return s.renderStaff(c, status, "console_customers", s.locale(c).T("console.customers"), m, v)
}

// computeTraits queues the full computation (DPO): it runs as a job,
// and the page says so until it is done.
func (s *Site) computeTraits(c *fiber.Ctx, m *staffMember) error {
	if err := s.checkForm(c, m.session); err != nil {
		return err
	}
	if _, err := s.cfg.Profiling.Ask(c.UserContext(), s.staffRequest(c, m, "")); err != nil {
		return err
	}
	return c.Redirect("/console/customers?done=queued", fiber.StatusSeeOther)
}

type segmentPage struct {
	*profiling.View
	List []crm.Member // the members, by id (Members is their number)
}

// segment shows one segment: definition, size, overlaps, entries and
// exits with why, members (ids) with their review, and activation.
func (s *Site) segment(c *fiber.Ctx, m *staffMember) error {
	name := strings.Clone(c.Params("name"))
	req := s.staffRequest(c, m, "")
	v, err := s.cfg.Profiling.Segment(c.UserContext(), req, name)
	if err != nil {
		return err
	}
	ms, err := s.cfg.Profiling.Members(c.UserContext(), req, name, uuid.Nil, 200)
	if err != nil {
		return err
	}
	return s.renderStaff(c, fiber.StatusOK, "console_segment", v.Name, m, segmentPage{View: v, List: ms})
}

// segmentAct refreshes a segment, records a review, or activates it as a
// CSV download.
func (s *Site) segmentAct(c *fiber.Ctx, m *staffMember) error {
	if err := s.checkForm(c, m.session); err != nil {
		return err
	}
	name := strings.Clone(c.Params("name"))
	req := s.staffRequest(c, m, "")
	ctx := c.UserContext()
	switch c.Params("act") {
	case "refresh":
		if _, err := s.cfg.Profiling.RefreshSegment(ctx, req, name); err != nil {
			return err
		}
	case "review":
		id, err := uuid.Parse(c.FormValue("profile"))
		if err != nil {
			return failWith(fiber.StatusBadRequest, "error.invalid")
		}
		if err := s.cfg.Profiling.Review(ctx, req, name, id, c.FormValue("verdict") == "approve"); err != nil {
			return err
		}
	case "activate":
		a, err := s.cfg.Profiling.Activate(ctx, req, name, profiling.CSVDestination)
		if err != nil {
			return err
		}
		c.Set(fiber.HeaderContentType, "text/csv; charset=utf-8")
		c.Set(fiber.HeaderContentDisposition, `attachment; filename="`+a.Segment+`-activation.csv"`)
		return c.Send(a.CSV)
	case "delete":
		if err := s.cfg.Profiling.Delete(ctx, req, name); err != nil {
			return err
		}
		return c.Redirect("/console/customers?done=deleted", fiber.StatusSeeOther)
	default:
		return failWith(fiber.StatusNotFound, "error.not_found")
	}
	return c.Redirect("/console/segments/"+name+"?done=saved", fiber.StatusSeeOther)
}
