#pragma once
// Platform-independent pseudo-random numbers (SplitMix64, Box-Muller for normals), so a seed
// gives the same values with every LibTorch version and on every machine. Golden values
// (random checkpoints, tracing noise) depend on it; never replace it by a library generator.

#include <cmath>
#include <cstdint>

namespace engram {

class RandomStream
{
public:
    explicit RandomStream(uint64_t seed)
        : m_state(seed)
    {
    }
    uint64_t bits()
    {
        uint64_t z = (m_state += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        return z ^ (z >> 31);
    }
    /// Uniform in [0, 1).
    double uniform() { return static_cast<double>(bits() >> 11) / 9007199254740992.0; }
    /// Standard normal.
    double normal()
    {
        if (m_hasSpare) {
            m_hasSpare = false;
            return m_spare;
        }
        const double u1 = (static_cast<double>(bits() >> 11) + 1.0) / 9007199254740993.0; // (0, 1]
        const double u2 = uniform();
        const double r = std::sqrt(-2.0 * std::log(u1));
        m_spare = r * std::sin(2.0 * M_PI * u2);
        m_hasSpare = true;
        return r * std::cos(2.0 * M_PI * u2);
    }

private:
    uint64_t m_state;
    double m_spare = 0;
    bool m_hasSpare = false;
};

} // namespace engram
