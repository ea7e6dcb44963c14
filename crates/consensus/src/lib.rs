//! The application side of Malachite BFT consensus.
