/**
 * A small Segmentation (SEG) object that references a series of images, written with dcmjs for the
 * reference tests: the SEG's Referenced Series Sequence, its frames' Source Image Sequence, its Frame of
 * Reference and its study all point at the source images.
 */
import dcmjs from "dcmjs";

export interface SourceImage {
  sopClassUid: string;
  sopInstanceUid: string;
}

export interface SegSource {
  studyInstanceUid: string;
  seriesInstanceUid: string;
  frameOfReferenceUid: string;
  patientId: string;
  patientName: string;
  images: SourceImage[];
}

const SEG_CLASS = "1.2.840.10008.5.1.4.1.1.66.4";

/** A binary SEG with one segment and one frame per source image. */
export function buildSeg(src: SegSource, uid: (suffix: string) => string): Uint8Array {
  const rows = 4;
  const columns = 4;
  const frames = src.images.length;
  const code = (value: string, meaning: string) => [{
    CodeValue: value,
    CodingSchemeDesignator: "SCT",
    CodeMeaning: meaning,
  }];
  const dataset = {
    SOPClassUID: SEG_CLASS,
    SOPInstanceUID: uid("seg.1"),
    StudyInstanceUID: src.studyInstanceUid,
    SeriesInstanceUID: uid("seg"),
    FrameOfReferenceUID: src.frameOfReferenceUid,
    PatientID: src.patientId,
    PatientName: src.patientName,
    PatientBirthDate: "19700101",
    PatientSex: "O",
    StudyDate: "20240102",
    StudyTime: "101010",
    ContentDate: "20240103",
    ContentTime: "111111",
    AccessionNumber: "ACC-SEG",
    ReferringPhysicianName: "DOCTOR^WHO",
    StudyID: "1",
    Modality: "SEG",
    SeriesNumber: "99",
    InstanceNumber: "1",
    Manufacturer: "Conduit tests",
    ManufacturerModelName: "buildSeg",
    DeviceSerialNumber: "SN-1",
    SoftwareVersions: "1",
    ContentLabel: "TEST",
    ContentDescription: "test segmentation",
    ContentCreatorName: "CREATOR^ANNE",
    ImageType: ["DERIVED", "PRIMARY"],
    SamplesPerPixel: 1,
    PhotometricInterpretation: "MONOCHROME2",
    Rows: rows,
    Columns: columns,
    BitsAllocated: 1,
    BitsStored: 1,
    HighBit: 0,
    PixelRepresentation: 0,
    LossyImageCompression: "00",
    SegmentationType: "BINARY",
    NumberOfFrames: String(frames),
    DimensionOrganizationType: "3D",
    ReferencedSeriesSequence: [{
      SeriesInstanceUID: src.seriesInstanceUid,
      ReferencedInstanceSequence: src.images.map((i) => ({
        ReferencedSOPClassUID: i.sopClassUid,
        ReferencedSOPInstanceUID: i.sopInstanceUid,
      })),
    }],
    SegmentSequence: [{
      SegmentNumber: 1,
      SegmentLabel: "organ",
      SegmentAlgorithmType: "MANUAL",
      SegmentedPropertyCategoryCodeSequence: code("91723000", "Anatomical Structure"),
      SegmentedPropertyTypeCodeSequence: code("10200004", "Liver"),
    }],
    SharedFunctionalGroupsSequence: [{
      PixelMeasuresSequence: [{ PixelSpacing: [1, 1], SliceThickness: 1 }],
      PlaneOrientationSequence: [{ ImageOrientationPatient: [1, 0, 0, 0, 1, 0] }],
    }],
    PerFrameFunctionalGroupsSequence: src.images.map((img, i) => ({
      DerivationImageSequence: [{
        DerivationCodeSequence: code("113076", "Segmentation"),
        SourceImageSequence: [{
          ReferencedSOPClassUID: img.sopClassUid,
          ReferencedSOPInstanceUID: img.sopInstanceUid,
          PurposeOfReferenceCodeSequence: code("121322", "Source image for image processing operation"),
        }],
      }],
      FrameContentSequence: [{ DimensionIndexValues: [1, i + 1] }],
      PlanePositionSequence: [{ ImagePositionPatient: [0, 0, i] }],
      SegmentIdentificationSequence: [{ ReferencedSegmentNumber: 1 }],
    })),
    _vrMap: { PixelData: "OB" },
    PixelData: new Uint8Array(Math.ceil((rows * columns * frames) / 8)).fill(0x0f).buffer,
  };
  const meta = {
    MediaStorageSOPClassUID: SEG_CLASS,
    MediaStorageSOPInstanceUID: dataset.SOPInstanceUID,
    TransferSyntaxUID: "1.2.840.10008.1.2.1",
    ImplementationClassUID: "2.25.1",
  };
  const { DicomDict, DicomMetaDictionary } = dcmjs.data;
  const dict = new DicomDict(DicomMetaDictionary.denaturalizeDataset(meta));
  dict.dict = DicomMetaDictionary.denaturalizeDataset(dataset);
  return new Uint8Array(dict.write());
}
