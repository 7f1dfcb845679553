//! Credit tables, plans and API tiers, exactly as the product documents them. The App and the
//! API price differently; both live here and nowhere else.

use serde::{Deserialize, Serialize};

/// Which credit balance and price list a request uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Surface {
    App,
    Api,
}

/// Generation modes. Auto is resolved to one of these before pricing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Fast,
    Balanced,
    Quality,
}

impl Mode {
    pub fn label(self) -> &'static str {
        match self {
            Mode::Fast => "Fast",
            Mode::Balanced => "Balanced",
            Mode::Quality => "Quality",
        }
    }
}

/// Output resolution tiers of image tools.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Resolution {
    #[serde(rename = "1k")]
    K1,
    #[serde(rename = "2k")]
    K2,
    #[serde(rename = "4k")]
    K4,
}

impl Resolution {
    pub const ALL: [Resolution; 3] = [Resolution::K1, Resolution::K2, Resolution::K4];

    pub fn label(self) -> &'static str {
        match self {
            Resolution::K1 => "1K",
            Resolution::K2 => "2K",
            Resolution::K4 => "4K",
        }
    }

    /// Nominal pixel count of the tier (a square of 1024, 2048, 4096).
    pub fn pixels(self) -> u64 {
        match self {
            Resolution::K1 => 1024 * 1024,
            Resolution::K2 => 2048 * 2048,
            Resolution::K4 => 4096 * 4096,
        }
    }

    /// The tier closest to an input's pixel count (compared on a log scale).
    pub fn closest_to(pixels: u64) -> Resolution {
        let p = (pixels.max(1)) as f64;
        Resolution::ALL
            .into_iter()
            .min_by(|a, b| {
                let da = (p.ln() - (a.pixels() as f64).ln()).abs();
                let db = (p.ln() - (b.pixels() as f64).ln()).abs();
                da.total_cmp(&db)
            })
            .unwrap_or(Resolution::K1)
    }
}

/// Video durations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Duration {
    #[serde(rename = "5")]
    S5,
    #[serde(rename = "10")]
    S10,
}

/// Video resolutions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum VideoResolution {
    #[serde(rename = "480p")]
    P480,
    #[serde(rename = "720p")]
    P720,
    #[serde(rename = "1080p")]
    P1080,
}

impl VideoResolution {
    pub fn label(self) -> &'static str {
        match self {
            VideoResolution::P480 => "480p",
            VideoResolution::P720 => "720p",
            VideoResolution::P1080 => "1080p",
        }
    }
}

/// Credits per output of an image-generation tool, by surface, mode and resolution.
pub fn image_cost(surface: Surface, mode: Mode, res: Resolution) -> u32 {
    use Mode::*;
    use Resolution::*;
    match surface {
        // App: Fast 1/1/1, Balanced 1/1/2, Quality 1/2/3.
        Surface::App => match (mode, res) {
            (Fast, _) => 1,
            (Balanced, K1 | K2) => 1,
            (Balanced, K4) => 2,
            (Quality, K1) => 1,
            (Quality, K2) => 2,
            (Quality, K4) => 3,
        },
        // API: Fast 1/2/3, Balanced 2/3/4, Quality 3/4/5.
        Surface::Api => {
            let base = match mode {
                Fast => 1,
                Balanced => 2,
                Quality => 3,
            };
            base + match res {
                K1 => 0,
                K2 => 1,
                K4 => 2,
            }
        }
    }
}

/// Extra credits per output image for a Face Reference.
pub fn face_reference_cost(surface: Surface) -> u32 {
    match surface {
        Surface::App => 2,
        Surface::Api => 3,
    }
}

/// Credits per video: 1/3/6 for 5 s and 2/6/12 for 10 s (480p/720p/1080p), on both surfaces.
pub fn video_cost(duration: Duration, res: VideoResolution) -> u32 {
    let five = match res {
        VideoResolution::P480 => 1,
        VideoResolution::P720 => 3,
        VideoResolution::P1080 => 6,
    };
    match duration {
        Duration::S5 => five,
        Duration::S10 => five * 2,
    }
}

/// Fixed costs per output. App: Face Swap 2, Background Removal 1, Upscale 1.
pub const APP_FACE_SWAP: u32 = 2;
pub const APP_BACKGROUND_REMOVE: u32 = 1;
pub const APP_UPSCALE: u32 = 1;
/// API: tryon-v1.6 1, background-remove 1 (and ours: upscale 1, face-swap 2, as in the app).
pub const API_TRYON_V16: u32 = 1;
pub const API_BACKGROUND_REMOVE: u32 = 1;

/// App subscription plans.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Plan {
    Free,
    Basic,
    Pro,
    Agency,
    #[serde(rename = "agency_2x")]
    Agency2x,
}

/// What a plan includes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PlanInfo {
    pub plan: Plan,
    pub name: &'static str,
    /// US cents per month; annual = 10 months.
    pub monthly_cents: u32,
    pub annual_cents: u32,
    pub monthly_credits: u32,
    pub daily_credits: u32,
    /// Credits granted once, when the account is created (Free: 10).
    pub one_time_credits: u32,
    /// Team members that can be invited besides the owner.
    pub invites: u32,
    pub simultaneous_generations: u32,
    pub quality_mode: bool,
    pub max_video: VideoResolution,
    pub end_image: bool,
    pub custom_faces: bool,
}

impl Plan {
    pub const ALL: [Plan; 5] = [
        Plan::Free,
        Plan::Basic,
        Plan::Pro,
        Plan::Agency,
        Plan::Agency2x,
    ];

    pub fn info(self) -> PlanInfo {
        let base = PlanInfo {
            plan: self,
            name: "Free",
            monthly_cents: 0,
            annual_cents: 0,
            monthly_credits: 0,
            daily_credits: 0,
            one_time_credits: 0,
            invites: 0,
            simultaneous_generations: 1,
            quality_mode: false,
            max_video: VideoResolution::P720,
            end_image: false,
            custom_faces: false,
        };
        let monthly = |c: u32| (c, c * 10);
        match self {
            // Decision: Free gets Basic's features with one simultaneous generation.
            Plan::Free => PlanInfo {
                one_time_credits: 10,
                ..base
            },
            Plan::Basic => {
                let (m, a) = monthly(1900);
                PlanInfo {
                    name: "Basic",
                    monthly_cents: m,
                    annual_cents: a,
                    monthly_credits: 200,
                    invites: 2,
                    simultaneous_generations: 3,
                    ..base
                }
            }
            Plan::Pro => {
                let (m, a) = monthly(4900);
                PlanInfo {
                    name: "Pro",
                    monthly_cents: m,
                    annual_cents: a,
                    monthly_credits: 750,
                    daily_credits: 50,
                    invites: 5,
                    simultaneous_generations: 6,
                    quality_mode: true,
                    max_video: VideoResolution::P1080,
                    end_image: true,
                    ..base
                }
            }
            Plan::Agency | Plan::Agency2x => {
                let double = self == Plan::Agency2x;
                let (m, a) = monthly(if double { 19900 } else { 9900 });
                PlanInfo {
                    name: if double { "Agency 2×" } else { "Agency" },
                    monthly_cents: m,
                    annual_cents: a,
                    monthly_credits: if double { 3000 } else { 1500 },
                    daily_credits: if double { 200 } else { 100 },
                    invites: 10,
                    simultaneous_generations: 11,
                    quality_mode: true,
                    max_video: VideoResolution::P1080,
                    end_image: true,
                    custom_faces: true,
                    ..base
                }
            }
        }
    }

    /// The cheapest plan at or above `self` that unlocks a gate, for "available on Pro" hints.
    pub fn lowest_with(gate: impl Fn(&PlanInfo) -> bool) -> Option<Plan> {
        Plan::ALL.into_iter().find(|p| gate(&p.info()))
    }
}

/// App top-ups: $0.10 per credit, at least 100, in steps of 100, 12-month expiry.
pub const APP_TOPUP_MICROS_PER_CREDIT: u64 = 100_000;
pub const TOPUP_MIN_CREDITS: u32 = 100;
pub const TOPUP_STEP_CREDITS: u32 = 100;
pub const TOPUP_EXPIRY_MONTHS: u32 = 12;

/// Developer API commitment: on demand, or Tier I–III.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApiTier {
    OnDemand,
    Tier1,
    Tier2,
    Tier3,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ApiTierInfo {
    pub tier: ApiTier,
    pub name: &'static str,
    pub monthly_cents: u32,
    pub annual_cents: u32,
    pub monthly_credits: u32,
    /// Top-up price per credit in millionths of a dollar.
    pub topup_micros_per_credit: u64,
    /// Discount against on-demand, in percent.
    pub discount_percent: u32,
}

impl ApiTier {
    pub const ALL: [ApiTier; 4] = [
        ApiTier::OnDemand,
        ApiTier::Tier1,
        ApiTier::Tier2,
        ApiTier::Tier3,
    ];

    pub fn info(self) -> ApiTierInfo {
        let t = |name, monthly_cents: u32, monthly_credits, micros, discount_percent| ApiTierInfo {
            tier: self,
            name,
            monthly_cents,
            annual_cents: monthly_cents * 10,
            monthly_credits,
            topup_micros_per_credit: micros,
            discount_percent,
        };
        match self {
            ApiTier::OnDemand => t("On-Demand", 0, 0, 75_000, 0),
            ApiTier::Tier1 => t("Tier I", 1900, 282, 67_500, 10),
            ApiTier::Tier2 => t("Tier II", 24900, 4150, 60_000, 20),
            ApiTier::Tier3 => t("Tier III", 124900, 25594, 48_800, 35),
        }
    }
}

/// Validates a top-up amount (both surfaces): at least 100 credits, in steps of 100.
pub fn valid_topup(credits: u32) -> bool {
    credits >= TOPUP_MIN_CREDITS && credits.is_multiple_of(TOPUP_STEP_CREDITS)
}

/// Price of a top-up in US cents (rounded half up).
pub fn topup_cents(surface: Surface, tier: ApiTier, credits: u32) -> u64 {
    let micros = match surface {
        Surface::App => APP_TOPUP_MICROS_PER_CREDIT,
        Surface::Api => tier.info().topup_micros_per_credit,
    };
    (micros * credits as u64 + 5_000) / 10_000
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn image_tables() {
        use Mode::*;
        let row = |s, m| Resolution::ALL.map(|r| image_cost(s, m, r));
        assert_eq!(row(Surface::App, Fast), [1, 1, 1]);
        assert_eq!(row(Surface::App, Balanced), [1, 1, 2]);
        assert_eq!(row(Surface::App, Quality), [1, 2, 3]);
        assert_eq!(row(Surface::Api, Fast), [1, 2, 3]);
        assert_eq!(row(Surface::Api, Balanced), [2, 3, 4]);
        assert_eq!(row(Surface::Api, Quality), [3, 4, 5]);
    }

    #[test]
    fn video_table() {
        use VideoResolution::*;
        assert_eq!(
            [P480, P720, P1080].map(|r| video_cost(Duration::S5, r)),
            [1, 3, 6]
        );
        assert_eq!(
            [P480, P720, P1080].map(|r| video_cost(Duration::S10, r)),
            [2, 6, 12]
        );
    }

    #[test]
    fn plans() {
        let p = |p: Plan| p.info();
        assert_eq!(p(Plan::Free).one_time_credits, 10);
        assert_eq!(
            [Plan::Basic, Plan::Pro, Plan::Agency, Plan::Agency2x].map(|x| p(x).monthly_cents),
            [1900, 4900, 9900, 19900]
        );
        assert_eq!(
            [Plan::Basic, Plan::Pro, Plan::Agency, Plan::Agency2x].map(|x| p(x).annual_cents),
            [19000, 49000, 99000, 199000]
        );
        assert_eq!(
            [Plan::Basic, Plan::Pro, Plan::Agency, Plan::Agency2x].map(|x| p(x).monthly_credits),
            [200, 750, 1500, 3000]
        );
        assert_eq!(
            [Plan::Basic, Plan::Pro, Plan::Agency, Plan::Agency2x].map(|x| p(x).daily_credits),
            [0, 50, 100, 200]
        );
        assert_eq!(
            [Plan::Basic, Plan::Pro, Plan::Agency].map(|x| p(x).simultaneous_generations),
            [3, 6, 11]
        );
        assert_eq!(
            [Plan::Basic, Plan::Pro, Plan::Agency].map(|x| p(x).invites),
            [2, 5, 10]
        );
        assert_eq!(Plan::lowest_with(|i| i.quality_mode), Some(Plan::Pro));
        assert_eq!(
            Plan::lowest_with(|i| i.max_video == VideoResolution::P1080),
            Some(Plan::Pro)
        );
        assert_eq!(Plan::lowest_with(|i| i.end_image), Some(Plan::Pro));
        assert_eq!(Plan::lowest_with(|i| i.custom_faces), Some(Plan::Agency));
    }

    #[test]
    fn api_tiers_and_topups() {
        let t = |x: ApiTier| x.info();
        assert_eq!(
            [ApiTier::Tier1, ApiTier::Tier2, ApiTier::Tier3].map(|x| t(x).monthly_credits),
            [282, 4150, 25594]
        );
        assert_eq!(
            [ApiTier::Tier1, ApiTier::Tier2, ApiTier::Tier3].map(|x| t(x).annual_cents),
            [19000, 249000, 1249000]
        );
        assert_eq!(
            topup_cents(Surface::Api, ApiTier::OnDemand, 100),
            750,
            "minimum $7.50"
        );
        assert_eq!(topup_cents(Surface::Api, ApiTier::Tier1, 1000), 6750);
        assert_eq!(topup_cents(Surface::Api, ApiTier::Tier3, 100), 488);
        assert_eq!(
            topup_cents(Surface::App, ApiTier::OnDemand, 100),
            1000,
            "$10 per 100"
        );
        assert!(valid_topup(100) && valid_topup(1200));
        assert!(!valid_topup(50) && !valid_topup(150) && !valid_topup(0));
    }

    #[test]
    fn auto_resolution_is_the_closest_tier() {
        assert_eq!(Resolution::closest_to(832 * 1248), Resolution::K1);
        assert_eq!(Resolution::closest_to(1536 * 1536), Resolution::K2);
        assert_eq!(Resolution::closest_to(2048 * 2048), Resolution::K2);
        assert_eq!(Resolution::closest_to(3500 * 3500), Resolution::K4);
        assert_eq!(Resolution::closest_to(10), Resolution::K1);
    }
}
