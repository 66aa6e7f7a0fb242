//! The accelerator vendors: the six the table's CHECK allows, in its order. Shared memory keeps
//! the number, so never reorder them.

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Vendor {
    Nvidia = 0,
    Amd = 1,
    Intel = 2,
    Apple = 3,
    Qualcomm = 4,
    Other = 5,
}

impl Vendor {
    pub const ALL: [Vendor; 6] = [
        Vendor::Nvidia,
        Vendor::Amd,
        Vendor::Intel,
        Vendor::Apple,
        Vendor::Qualcomm,
        Vendor::Other,
    ];

    /// The vendor's name in SQL and JSON: the `vendor` column's text.
    pub const fn sql_name(self) -> &'static str {
        match self {
            Vendor::Nvidia => "nvidia",
            Vendor::Amd => "amd",
            Vendor::Intel => "intel",
            Vendor::Apple => "apple",
            Vendor::Qualcomm => "qualcomm",
            Vendor::Other => "other",
        }
    }

    /// The vendor with exactly this name.
    pub fn parse(name: &str) -> Option<Vendor> {
        Vendor::ALL
            .into_iter()
            .find(|known| known.sql_name() == name)
    }

    /// The vendor a stored number stands for (only numbers written from a Vendor are stored).
    pub fn from_index(index: u8) -> Vendor {
        Vendor::ALL[usize::from(index).min(Vendor::ALL.len() - 1)]
    }

    /// "nvidia, amd, intel, apple, qualcomm, other", for messages.
    pub fn names() -> String {
        Vendor::ALL.map(Vendor::sql_name).join(", ")
    }
}
