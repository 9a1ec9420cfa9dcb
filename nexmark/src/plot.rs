//! PNG plots of a comparison: one column per policy; rows: source rate, parallelism per
//! operator (with the oracle Σ in emulated mode), backlog lag on a log scale with the latency
//! bound. Same axes across columns, units on every axis, one legend.

use std::path::Path;
use std::sync::OnceLock;

use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::{register_font, FontStyle};

use crate::harness::RunRecord;

const FONT_PATHS: [&str; 2] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
];

static FONT: OnceLock<bool> = OnceLock::new();

/// Registers DejaVu Sans as the sans-serif font (plotters draws text with ab_glyph, which needs
/// a font file; scripts/deps.sh installs fonts-dejavu-core).
fn font() -> Result<(), String> {
    let ok = *FONT.get_or_init(|| {
        FONT_PATHS.iter().any(|p| {
            std::fs::read(p).is_ok_and(|bytes| {
                let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
                register_font("sans-serif", FontStyle::Normal, bytes).is_ok()
            })
        })
    });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "no font for the plots: install fonts-dejavu-core ({})",
            FONT_PATHS[0]
        ))
    }
}

const PALETTE: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
];

type Chart<'a, 'b, Y> = ChartContext<'a, BitMapBackend<'b>, Cartesian2d<RangedCoordf64, Y>>;

/// One panel: time on x, `y_desc` on y over `y_range`, `y_labels` labels written by `y_label`.
fn panel<'a, 'b, Y>(
    area: &'a DrawingArea<BitMapBackend<'b>, Shift>,
    caption: Option<&str>,
    t_max: f64,
    y_range: Y,
    y_desc: &str,
    y_labels: usize,
    y_label: &dyn Fn(&f64) -> String,
) -> Result<Chart<'a, 'b, Y::CoordDescType>, String>
where
    Y: AsRangedCoord<Value = f64>,
    Y::CoordDescType: ValueFormatter<f64>,
{
    let mut builder = ChartBuilder::on(area);
    if let Some(c) = caption {
        builder.caption(c, ("sans-serif", 20));
    }
    let mut chart = builder
        .margin(8)
        .x_label_area_size(32)
        .y_label_area_size(64)
        .build_cartesian_2d(0.0..t_max, y_range)
        .map_err(|e| format!("plot: {e:?}"))?;
    chart
        .configure_mesh()
        .x_desc("time (s)")
        .y_desc(y_desc)
        .y_labels(y_labels)
        .y_label_formatter(y_label)
        .x_label_formatter(&|v| format!("{v:.0}"))
        .label_style(("sans-serif", 13))
        .draw()
        .map_err(|e| format!("plot: {e:?}"))?;
    Ok(chart)
}

/// A linear panel from 0 to `y_max`, labels with `y_decimals` decimals.
fn linear_panel<'a, 'b>(
    area: &'a DrawingArea<BitMapBackend<'b>, Shift>,
    caption: Option<&str>,
    t_max: f64,
    y_max: f64,
    y_desc: &str,
    y_decimals: usize,
) -> Result<Chart<'a, 'b, RangedCoordf64>, String> {
    // Whole-number axes under 10 get a label per unit: the default ten labels would put
    // rounded duplicates (0, 1, 1, 2, 2, ...) at the half steps.
    let y_labels = if y_decimals == 0 && y_max < 10.0 {
        (y_max.floor() as usize + 1).max(2)
    } else {
        10
    };
    panel(area, caption, t_max, 0.0..y_max, y_desc, y_labels, &|v| {
        format!("{v:.y_decimals$}")
    })
}

/// The lowest lag the log-scale lag panel shows: a lag under it (none at all, too) is drawn
/// on the axis.
const LAG_FLOOR_S: f64 = 0.01;

/// A lag in seconds as a decade label: 0.01, 0.1, 1, 10, 100.
fn seconds_label(v: &f64) -> String {
    let decimals = (-v.log10().floor()).max(0.0) as usize;
    format!("{v:.decimals$}")
}

/// Draws `runs` (policy, record) into a PNG at `path`; `slo_s` is the latency bound.
pub fn comparison_png(
    path: &Path,
    title: &str,
    runs: &[(String, &RunRecord)],
    slo_s: f64,
) -> Result<(), String> {
    font()?;
    if runs.is_empty() {
        return Err("nothing to plot".into());
    }
    let cols = runs.len();
    // Wide enough for the title even with one column.
    let width = (420 * cols + 80).max(1100) as u32;
    let root = BitMapBackend::new(path, (width, 900)).into_drawing_area();
    let err = |e: DrawingAreaErrorKind<_>| format!("plot {}: {e:?}", path.display());
    root.fill(&WHITE).map_err(err)?;
    let root = root
        .titled(title, ("sans-serif", 24))
        .map_err(|e| format!("plot: {e:?}"))?;
    let columns = root.split_evenly((1, cols));

    let t_max = runs
        .iter()
        .flat_map(|(_, r)| r.windows.last().map(|w| w.t_s))
        .fold(1.0, f64::max);
    let rate_max = runs
        .iter()
        .flat_map(|(_, r)| r.windows.iter().map(|w| w.rate))
        .fold(1.0, f64::max)
        * 1.1;
    let p_max = runs
        .iter()
        .flat_map(|(_, r)| {
            r.windows.iter().flat_map(|w| {
                let sum: usize = w.ops.iter().map(|o| o.parallelism).sum();
                let oracle: usize = w.ops.iter().map(|o| o.oracle.unwrap_or(0)).sum();
                [sum, oracle]
            })
        })
        .max()
        .unwrap_or(1) as f64
        * 1.15
        + 1.0;
    let lag_max = runs
        .iter()
        .flat_map(|(_, r)| r.windows.iter().map(|w| w.lag_ms / 1e3))
        .fold(slo_s.max(1.0), f64::max)
        * 2.0;
    let slo_line = slo_s.max(LAG_FLOOR_S);

    for (c, ((policy, record), area)) in runs.iter().zip(columns.iter()).enumerate() {
        let rows = area.split_evenly((3, 1));
        // Rate.
        let mut chart = linear_panel(
            &rows[0],
            Some(policy),
            t_max,
            rate_max,
            "source rate (events/s)",
            0,
        )?;
        chart
            .draw_series(LineSeries::new(
                record.windows.iter().map(|w| (w.t_s, w.rate)),
                BLACK.stroke_width(2),
            ))
            .map_err(|e| format!("plot: {e:?}"))?;

        // Parallelism per operator, stacked as lines; Σ and oracle Σ.
        let mut chart = linear_panel(&rows[1], None, t_max, p_max, "parallelism (instances)", 0)?;
        for (i, name) in record.operators.iter().enumerate() {
            let color = PALETTE[i % PALETTE.len()];
            let s = chart
                .draw_series(LineSeries::new(
                    record
                        .windows
                        .iter()
                        .map(|w| (w.t_s, w.ops[i].parallelism as f64)),
                    color.stroke_width(2),
                ))
                .map_err(|e| format!("plot: {e:?}"))?;
            if c == 0 {
                s.label(name.clone()).legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
                });
            }
        }
        let s = chart
            .draw_series(LineSeries::new(
                record.windows.iter().map(|w| {
                    (
                        w.t_s,
                        w.ops.iter().map(|o| o.parallelism).sum::<usize>() as f64,
                    )
                }),
                BLACK.stroke_width(2),
            ))
            .map_err(|e| format!("plot: {e:?}"))?;
        if c == 0 {
            s.label("Σ parallelism").legend(|(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], BLACK.stroke_width(2))
            });
        }
        if record
            .windows
            .iter()
            .any(|w| w.ops.iter().any(|o| o.oracle.is_some()))
        {
            let grey = RGBColor(150, 150, 150);
            let s = chart
                .draw_series(DashedLineSeries::new(
                    record.windows.iter().map(|w| {
                        (
                            w.t_s,
                            w.ops.iter().map(|o| o.oracle.unwrap_or(0)).sum::<usize>() as f64,
                        )
                    }),
                    6,
                    4,
                    grey.stroke_width(2),
                ))
                .map_err(|e| format!("plot: {e:?}"))?;
            if c == 0 {
                s.label("oracle Σ").legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], grey.stroke_width(2))
                });
            }
        }
        if c == 0 {
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperLeft)
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .label_font(("sans-serif", 13))
                .draw()
                .map_err(|e| format!("plot: {e:?}"))?;
        }

        // Lag, on a log scale: one policy's runaway backlog of minutes must not flatten
        // another's lag of a second onto the axis. The latency bound is the dashed line.
        let mut chart = panel(
            &rows[2],
            None,
            t_max,
            (LAG_FLOOR_S..lag_max).log_scale(),
            "backlog lag (s; dashed: SLO)",
            8,
            &seconds_label,
        )?;
        chart
            .draw_series(LineSeries::new(
                record
                    .windows
                    .iter()
                    .map(|w| (w.t_s, (w.lag_ms / 1e3).max(LAG_FLOOR_S))),
                RED.stroke_width(2),
            ))
            .map_err(|e| format!("plot: {e:?}"))?;
        chart
            .draw_series(DashedLineSeries::new(
                [(0.0, slo_line), (t_max, slo_line)],
                6,
                4,
                BLACK.stroke_width(1),
            ))
            .map_err(|e| format!("plot: {e:?}"))?;
    }
    root.present()
        .map_err(|e| format!("plot {}: {e:?}", path.display()))?;
    Ok(())
}
