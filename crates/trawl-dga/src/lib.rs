//! Mirai DGA and DGA scoring (see issue 7).
