package promcheck

import (
	"fmt"
	"io"
	"net/http"
	"sort"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Catalog is what one scrape showed: for every series name a query can
// select, the label names its samples carry. A histogram family X appears as
// X_bucket (with le), X_sum and X_count, a summary X as X (with quantile),
// X_sum and X_count, as PromQL sees them. ScrapeSeries are in every
// catalog, with no labels of their own.
type Catalog struct {
	// Families are the parsed metric families, by family name.
	Families map[string]*dto.MetricFamily
	series   map[string]map[string]bool
}

// Labels returns the label names of the series name and whether a series of
// that name was scraped.
func (c Catalog) Labels(name string) (map[string]bool, bool) {
	labels, ok := c.series[name]
	return labels, ok
}

// SeriesNames lists every series name, sorted.
func (c Catalog) SeriesNames() []string {
	names := make([]string, 0, len(c.series))
	for name := range c.series {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// Parse reads a scrape in the Prometheus text format.
func Parse(r io.Reader) (Catalog, error) {
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(r)
	if err != nil {
		return Catalog{}, fmt.Errorf("parse scrape: %w", err)
	}
	c := Catalog{Families: families, series: map[string]map[string]bool{}}
	for name, family := range families {
		labels := map[string]bool{}
		for _, m := range family.GetMetric() {
			for _, pair := range m.GetLabel() {
				labels[pair.GetName()] = true
			}
		}
		switch family.GetType() {
		case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
			c.series[name+"_bucket"] = with(labels, "le")
			c.series[name+"_sum"] = labels
			c.series[name+"_count"] = labels
		case dto.MetricType_SUMMARY:
			c.series[name] = with(labels, "quantile")
			c.series[name+"_sum"] = labels
			c.series[name+"_count"] = labels
		default:
			c.series[name] = labels
		}
	}
	for _, name := range ScrapeSeries {
		if _, exported := c.series[name]; !exported {
			c.series[name] = map[string]bool{}
		}
	}
	return c, nil
}

func with(labels map[string]bool, extra string) map[string]bool {
	out := map[string]bool{extra: true}
	for l := range labels {
		out[l] = true
	}
	return out
}

// Scrape GETs url, a /metrics endpoint, with the given request headers
// (an Authorization header for the manager's) and parses the answer.
func Scrape(url string, header http.Header) (Catalog, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return Catalog{}, err
	}
	for key, values := range header {
		req.Header[key] = values
	}
	// The text format, which Parse reads, not protobuf.
	req.Header.Set("Accept", string(expfmt.NewFormat(expfmt.TypeTextPlain)))
	client := http.Client{Transport: http.DefaultTransport}
	resp, err := client.Do(req)
	if err != nil {
		return Catalog{}, fmt.Errorf("scrape %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		return Catalog{}, fmt.Errorf("scrape %s: %s: %s", url, resp.Status, body)
	}
	c, err := Parse(resp.Body)
	if err != nil {
		return Catalog{}, fmt.Errorf("scrape %s: %w", url, err)
	}
	return c, nil
}
