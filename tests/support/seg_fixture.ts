/**
 * A DICOM Segmentation over a series, made at test time by pydicom (nothing generated is committed): one
 * BINARY segment, a box over the middle half of every frame, one frame per source image, each frame
 * referencing its image and carrying its position, in a new series of the images' study.
 */
const PYTHON = "/usr/bin/python3";

/** Why the SEG cannot be made here (no pydicom for /usr/bin/python3), or undefined when it can. */
export async function segFixtureSkip(): Promise<string | undefined> {
  try {
    const r = await new Deno.Command(PYTHON, { args: ["-c", "import pydicom, numpy"], stderr: "null" })
      .output();
    return r.success ? undefined : `no pydicom (with numpy) for ${PYTHON}`;
  } catch {
    return `no ${PYTHON}`;
  }
}

const GENERATE = `
import sys, pydicom, numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, generate_uid
out, label, files = sys.argv[1], sys.argv[2], sys.argv[3:]
src = sorted((pydicom.dcmread(f) for f in files), key=lambda d: float(d.ImagePositionPatient[2]))
first, rows, cols = src[0], src[0].Rows, src[0].Columns
def item(**values):
    d = Dataset()
    for k, v in values.items():
        setattr(d, k, v)
    return d
def code(value, scheme, meaning):
    return Sequence([item(CodeValue=value, CodingSchemeDesignator=scheme, CodeMeaning=meaning)])
ds = Dataset()
ds.file_meta = FileMetaDataset()
ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.66.4"
ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID = generate_uid()
for k in ["PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyInstanceUID", "StudyDate",
          "StudyTime", "AccessionNumber", "ReferringPhysicianName", "StudyID", "FrameOfReferenceUID"]:
    if k in first:
        setattr(ds, k, first.data_element(k).value)
ds.update(item(SeriesInstanceUID=generate_uid(), SeriesNumber=99, Modality="SEG", SeriesDescription=label,
    InstanceNumber=1, ContentLabel="SEG", ContentCreatorName="TEST", ContentDate="20260101", ContentTime="000000",
    Manufacturer="TEST", ImageType=["DERIVED", "PRIMARY"], SamplesPerPixel=1, PhotometricInterpretation="MONOCHROME2",
    Rows=rows, Columns=cols, BitsAllocated=1, BitsStored=1, HighBit=0, PixelRepresentation=0,
    LossyImageCompression="00", SegmentationType="BINARY", NumberOfFrames=len(src)))
ds.SegmentSequence = Sequence([item(SegmentNumber=1, SegmentLabel="Box", SegmentAlgorithmType="MANUAL",
    SegmentedPropertyCategoryCodeSequence=code("91723000", "SCT", "Anatomical Structure"),
    SegmentedPropertyTypeCodeSequence=code("39607008", "SCT", "Lung"),
    RecommendedDisplayCIELabValue=[40000, 50000, 50000])])
ds.SharedFunctionalGroupsSequence = Sequence([item(
    PlaneOrientationSequence=Sequence([item(ImageOrientationPatient=first.ImageOrientationPatient)]),
    PixelMeasuresSequence=Sequence([item(PixelSpacing=first.PixelSpacing,
                                         SliceThickness=first.get("SliceThickness", 1))]))])
dim = generate_uid()
ds.DimensionOrganizationSequence = Sequence([item(DimensionOrganizationUID=dim)])
ds.DimensionIndexSequence = Sequence([
    item(DimensionOrganizationUID=dim, DimensionIndexPointer=0x0062000B, FunctionalGroupPointer=0x0062000A),
    item(DimensionOrganizationUID=dim, DimensionIndexPointer=0x00200032, FunctionalGroupPointer=0x00209113)])
ds.PerFrameFunctionalGroupsSequence = Sequence([item(
    DerivationImageSequence=Sequence([item(
        SourceImageSequence=Sequence([item(ReferencedSOPClassUID=s.SOPClassUID,
            ReferencedSOPInstanceUID=s.SOPInstanceUID,
            PurposeOfReferenceCodeSequence=code("121322", "DCM", "Source image for image processing operation"))]),
        DerivationCodeSequence=code("113076", "DCM", "Segmentation"))]),
    FrameContentSequence=Sequence([item(DimensionIndexValues=[1, i + 1])]),
    PlanePositionSequence=Sequence([item(ImagePositionPatient=s.ImagePositionPatient)]),
    SegmentIdentificationSequence=Sequence([item(ReferencedSegmentNumber=1)])) for i, s in enumerate(src)])
ds.ReferencedSeriesSequence = Sequence([item(SeriesInstanceUID=first.SeriesInstanceUID,
    ReferencedInstanceSequence=Sequence([item(ReferencedSOPClassUID=s.SOPClassUID,
        ReferencedSOPInstanceUID=s.SOPInstanceUID) for s in src]))])
mask = np.zeros((len(src), rows, cols), np.uint8)
mask[:, rows // 4:3 * rows // 4, cols // 4:3 * cols // 4] = 1
bits = np.packbits(mask.reshape(-1), bitorder="little").tobytes()
ds.PixelData = bits + (b"\\0" if len(bits) % 2 else b"")
ds["PixelData"].VR = "OB"
ds.is_little_endian, ds.is_implicit_VR = True, False
ds.save_as(out, write_like_original=False)
`;

/** Writes to `out` a SEG named `label` (its Series Description) over the images `files` (one series). */
export async function writeSegOver(out: string, label: string, files: string[]): Promise<void> {
  const r = await new Deno.Command(PYTHON, { args: ["-c", GENERATE, out, label, ...files], stderr: "piped" })
    .output();
  if (!r.success) throw new Error(`pydicom could not make the SEG: ${new TextDecoder().decode(r.stderr)}`);
}
