//! tern's CRC64: CRC-64/XZ (the ECMA-182 polynomial, reflected), the checksum OSS and COS report
//! as `crc64ecma` and tern writes as `tern-crc64`.
//!
//! Computed by `crc-fast`, which folds with VPCLMULQDQ/AVX-512 where the CPU has them: on the
//! bench machine 50 GB/s against `crc64fast`'s 13 GB/s, and a 1 MiB copy spent 4–6% of its CPU
//! in the checksum before (bench/RESULTS.md, issue 14 item 5). The tests keep `crc64fast` as an
//! independent check of the values.

/// A running CRC64 of the bytes written so far.
pub(crate) struct Crc64(crc_fast::Digest);

impl Crc64 {
    /// The CRC64 of nothing yet.
    pub(crate) fn new() -> Crc64 {
        Crc64(crc_fast::Digest::new(crc_fast::CrcAlgorithm::Crc64Xz))
    }

    /// Adds `bytes` to the checksum.
    pub(crate) fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    /// The checksum of everything written so far.
    pub(crate) fn sum64(&self) -> u64 {
        self.0.finalize()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_the_standard_check_value() {
        let mut crc = Crc64::new();
        crc.write(b"123456789");
        assert_eq!(crc.sum64(), 0x995d_c9bb_df19_39fa);
        assert_eq!(Crc64::new().sum64(), 0);
    }

    #[test]
    fn test_values_equal_crc64fasts_whatever_the_chunking() {
        let data: Vec<u8> = (0..300_000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        for chunk in [1, 7, 4096, 65_537, 300_000] {
            let mut ours = Crc64::new();
            let mut theirs = crc64fast::Digest::new();
            for part in data.chunks(chunk) {
                ours.write(part);
                theirs.write(part);
            }
            assert_eq!(ours.sum64(), theirs.sum64(), "chunks of {chunk}");
        }
    }
}
