// The Android library (AAR) of lp2p: the generated Kotlin, JNA as an AAR
// (its native libjnidispatch per ABI), and liblp2p_uniffi.so per ABI built
// with cargo-ndk. Built by build-aar.sh; not run in this repository's CI
// (no Android SDK there).
pluginManagement {
    repositories {
        google()
        mavenCentral()
        gradlePluginPortal()
    }
}
dependencyResolutionManagement {
    repositories {
        google()
        mavenCentral()
    }
}
rootProject.name = "lp2p-android"
