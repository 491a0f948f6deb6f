package web

import (
	"fmt"
	"math"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/cdp-project/cdp/access"
	"github.com/cdp-project/cdp/auth"
)

// lineagePicture draws a profile's records on a circle and its links
// between them (server-rendered SVG): the rule or the score of each link,
// steward links apart.
type lineagePicture struct {
	Size  int
	Nodes []pictureNode
	Edges []pictureEdge
}

type pictureNode struct {
	X, Y   int
	Label  string
	Source string
}

type pictureEdge struct {
	X1, Y1, X2, Y2 int
	MX, MY         int
	Label          string
	Steward        bool
}

func drawLineage(l *access.Lineage) lineagePicture {
	p := lineagePicture{Size: 420}
	n := len(l.Records)
	at := map[uuid.UUID]pictureNode{}
	for i, r := range l.Records {
		angle := 2*math.Pi*float64(i)/float64(max(n, 1)) - math.Pi/2
		x, y := 210+int(150*math.Cos(angle)), 210+int(150*math.Sin(angle))
		if n == 1 {
			x, y = 210, 210
		}
		node := pictureNode{X: x, Y: y, Label: r.ID.String()[:8], Source: r.Source}
		at[r.ID] = node
		p.Nodes = append(p.Nodes, node)
	}
	for _, k := range l.Links {
		a, okA := at[k.A]
		b, okB := at[k.B]
		if !okA || !okB {
			continue
		}
		label := k.Rule
		if label == "" {
			label = fmt.Sprintf("%.2f", k.Probability)
		}
		p.Edges = append(p.Edges, pictureEdge{X1: a.X, Y1: a.Y, X2: b.X, Y2: b.Y, MX: (a.X + b.X) / 2, MY: (a.Y + b.Y) / 2,
			Label: label, Steward: k.Rule == "steward"})
	}
	return p
}

type stewardProfileView struct {
	Lineage *access.Lineage
	Records *access.ProfileRecords
	Golden  []goldenView
	Picture lineagePicture
}

// stewardProfile is a profile on the stewards' workbench: its records,
// the lineage drawn, the decisions; split records out, merge another
// profile in.
func (s *Site) stewardProfile(c *fiber.Ctx, m *staffMember) error {
	id, err := idParam(c)
	if err != nil {
		return err
	}
	req := s.staffRequest(c, m, "")
	l, err := s.cfg.Access.Lineage(c.UserContext(), req, id)
	if err != nil {
		return err
	}
	recs, err := s.cfg.Access.Records(c.UserContext(), s.staffRequest(c, m, "data_quality"), id)
	if err != nil {
		return err
	}
	v := stewardProfileView{Lineage: l, Records: recs, Picture: drawLineage(l)}
	if p, err := s.cfg.Access.Profile(c.UserContext(), s.staffRequest(c, m, "data_quality"), id); err == nil {
		v.Golden = goldenOf(p)
	}
	return s.renderStaff(c, fiber.StatusOK, "console_lineage", s.locale(c).T("console.lineage"), m, v)
}

// stewardAct splits records out of a profile or merges another one in.
func (s *Site) stewardAct(c *fiber.Ctx, m *staffMember) error {
	if err := s.checkForm(c, m.session); err != nil {
		return err
	}
	id, err := idParam(c)
	if err != nil {
		return err
	}
	reason := strings.TrimSpace(c.FormValue("reason"))
	req := s.staffRequest(c, m, "")
	switch c.Params("act") {
	case "split":
		var records []uuid.UUID
		for _, v := range c.Request().PostArgs().PeekMulti("records") {
			r, err := uuid.Parse(string(v))
			if err != nil {
				return failWith(fiber.StatusBadRequest, "error.invalid")
			}
			records = append(records, r)
		}
		if _, err := s.cfg.Access.Split(c.UserContext(), req, id, records, reason, c.FormValue("reverse") == "1"); err != nil {
			return err
		}
	case "merge":
		other, err := uuid.Parse(strings.TrimSpace(c.FormValue("other")))
		if err != nil {
			return failWith(fiber.StatusBadRequest, "console.merge_id")
		}
		// The lineage read after it follows the merge, whichever id survives.
		if _, err := s.cfg.Access.Merge(c.UserContext(), req, []uuid.UUID{id, other}, reason, c.FormValue("reverse") == "1"); err != nil {
			return err
		}
	default:
		return failWith(fiber.StatusNotFound, "error.not_found")
	}
	return c.Redirect("/console/lineage/"+id.String()+"?done=decided", fiber.StatusSeeOther)
}

var stewardRoles = []auth.Role{auth.RoleSteward, auth.RoleDPO}
